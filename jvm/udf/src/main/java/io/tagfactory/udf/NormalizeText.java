package io.tagfactory.udf;

import org.apache.spark.sql.api.java.UDF1;

/** {@code tagfactory_normalize_text(value)}: {@link Normalize#text}. */
public final class NormalizeText implements UDF1<String, String> {
    private static final long serialVersionUID = 1L;

    @Override
    public String call(String value) {
        return Normalize.text(value);
    }
}

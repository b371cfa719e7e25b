package io.tagfactory.udf;

import org.apache.spark.sql.api.java.UDF3;

/** {@code tagfactory_normalize_phone(value, format, country_code)}: {@link Normalize#phone}. */
public final class NormalizePhone implements UDF3<String, String, String, String> {
    private static final long serialVersionUID = 1L;

    @Override
    public String call(String value, String format, String countryCode) {
        return Normalize.phone(value, format, countryCode);
    }
}

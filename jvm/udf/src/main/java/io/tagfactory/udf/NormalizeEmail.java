package io.tagfactory.udf;

import org.apache.spark.sql.api.java.UDF2;

/** {@code tagfactory_normalize_email(value, gmail_dots)}: {@link Normalize#email}. */
public final class NormalizeEmail implements UDF2<String, Boolean, String> {
    private static final long serialVersionUID = 1L;

    @Override
    public String call(String value, Boolean gmailDots) {
        return Normalize.email(value, gmailDots != null && gmailDots);
    }
}

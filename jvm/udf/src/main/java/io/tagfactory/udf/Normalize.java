package io.tagfactory.udf;

import com.ibm.icu.lang.UCharacter;

/**
 * The normalization rules of the hashing profiles (docs/hashing-profiles.md), one pass over a value's characters.
 *
 * <p>Each method gives exactly what the pure Spark-expression path of {@code tagfactory/exports/hashing.py}
 * gives (the published test vectors, and random strings in tests/integration/test_hashing.py): null in, null
 * out; a value that is empty after normalization gives null. The SHA-256 stays Spark's {@code sha2}.
 */
public final class Normalize {
    private Normalize() {
    }

    /** One of {@code TRIM_CHARS} (tagfactory/compiler/hash_profiles.py): ASCII white space, NBSP, ZWSP, U+3000, BOM. */
    static boolean isTrim(char c) {
        switch (c) {
            case ' ': case '\t': case '\n': case '\u000b': case '\f': case '\r':
            case '\u00a0': case '\u200b': case '\u3000': case '\ufeff':
                return true;
            default:
                return false;
        }
    }

    /** The value without the trim characters at both ends ("" stays ""). */
    public static String trim(String value) {
        int begin = 0;
        int end = value.length();
        while (begin < end && isTrim(value.charAt(begin))) {
            begin++;
        }
        while (end > begin && isTrim(value.charAt(end - 1))) {
            end--;
        }
        return value.substring(begin, end);
    }

    /** Spark's {@code lower}: ASCII letters by hand, anything else through ICU (as Spark does). */
    static String lower(String value) {
        int n = value.length();
        int first = -1;
        for (int i = 0; i < n; i++) {
            char c = value.charAt(i);
            if (c >= 0x80) {
                return UCharacter.toLowerCase(value);
            }
            if (first < 0 && c >= 'A' && c <= 'Z') {
                first = i;
            }
        }
        if (first < 0) {
            return value;
        }
        char[] out = value.toCharArray();
        for (int i = first; i < n; i++) {
            char c = out[i];
            if (c >= 'A' && c <= 'Z') {
                out[i] = (char) (c + ('a' - 'A'));
            }
        }
        return new String(out);
    }

    /** Other values (generic ids): trimmed; null if empty. */
    public static String text(String value) {
        if (value == null) {
            return null;
        }
        String text = trim(value);
        return text.isEmpty() ? null : text;
    }

    /** An email: trimmed, lowercased; with {@code gmailDots}, no '.' before the '@' of gmail.com / googlemail.com. */
    public static String email(String value, boolean gmailDots) {
        if (value == null) {
            return null;
        }
        String text = trim(value);
        if (text.isEmpty()) {
            return null;
        }
        text = lower(text);
        if (gmailDots && (text.endsWith("@gmail.com") || text.endsWith("@googlemail.com"))) {
            int at = text.lastIndexOf('@');
            if (text.lastIndexOf('.', at) >= 0) {
                StringBuilder out = new StringBuilder(text.length());
                for (int i = 0; i < at; i++) {
                    char c = text.charAt(i);
                    if (c != '.') {
                        out.append(c);
                    }
                }
                text = out.append(text, at, text.length()).toString();
            }
        }
        return text;
    }

    /**
     * A phone number.
     *
     * @param format {@code digits} (every character but 0-9 removed), {@code international_digits} (also leading
     *     zeros removed; a national number gets {@code countryCode}) or {@code e164} (the same with a '+')
     * @param countryCode the country calling code put in front of a national number, or null
     */
    public static String phone(String value, String format, String countryCode) {
        if (value == null) {
            return null;
        }
        int n = value.length();
        char[] digits = new char[n];
        int count = 0;
        char first = 0;  // the first two of the digits and '+'
        char second = 0;
        for (int i = 0; i < n; i++) {
            char c = value.charAt(i);
            boolean digit = c >= '0' && c <= '9';
            if (digit) {
                digits[count++] = c;
            }
            if (second == 0 && (digit || c == '+')) {
                if (first == 0) {
                    first = c;
                } else {
                    second = c;
                }
            }
        }
        // written international: the first of the digits and '+' is '+', or the first two are "00"
        boolean international = first == '+' || (first == '0' && second == '0');
        if ("digits".equals(format)) {
            return count == 0 ? null : new String(digits, 0, count);
        }
        int start = 0;
        while (start < count && digits[start] == '0') {
            start++;
        }
        if (start == count) {
            return null;
        }
        boolean plus = "e164".equals(format);
        String country = international || countryCode == null ? "" : countryCode;
        StringBuilder out = new StringBuilder(count - start + country.length() + 1);
        if (plus) {
            out.append('+');
        }
        return out.append(country).append(digits, start, count - start).toString();
    }
}

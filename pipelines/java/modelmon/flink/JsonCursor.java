package modelmon.flink;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.function.BooleanSupplier;

/**
 * A strict JSON scanner over one line of valid UTF-8, for {@link BlockEvents}: it reads the values the
 * reader keeps and checks the grammar of those it skips, with no token objects, no key
 * canonicalization and no duplicate detection of its own (the reader checks the keys whose
 * values it keeps). It replaced Jackson there, which spent about half of the reader's time on
 * work this shape does not need.
 *
 * <p>Anything it does not read exactly as Python's {@code json} would throws {@link #NOT_TAKEN},
 * and the line is left to Python: invalid JSON, nesting deeper than {@link #MAX_DEPTH},
 * {@code NaN} and {@code Infinity} (which Python accepts), integers of more than 18 digits,
 * strings that hold a surrogate, and strings with both an escape and a character that is not ASCII.
 */
final class JsonCursor {
    /** Thrown for a line the reader must leave to Python; no stack trace, as it is not an error. */
    static final RuntimeException NOT_TAKEN = new RuntimeException("not taken", null, false, false) {
    };
    static final int MAX_DEPTH = 64;
    /** Eight bytes at a time, as a little-endian long (JIT-compiled to one load). */
    static final VarHandle WORDS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    static final long ONES = 0x0101010101010101L;
    static final long HIGH_BITS = 0x8080808080808080L;
    private static final double[] POWERS_OF_TEN = new double[23];
    static {
        POWERS_OF_TEN[0] = 1;
        for (int i = 1; i < POWERS_OF_TEN.length; i++) {
            POWERS_OF_TEN[i] = POWERS_OF_TEN[i - 1] * 10;  // exact up to 1e22
        }
    }

    private byte[] bytes;
    private boolean ascii;  // the line is ASCII: its strings' bytes are their characters
    private int pos;
    private int end;
    // the last string scanned: bytes[textStart, textEnd) without its quotes; decoded if it had an escape
    private int textStart;
    private int textEnd;
    private String decoded;
    // the number being read
    private long mantissa;
    private int significant;
    private final StringBuilder unescaped = new StringBuilder();
    private int depth;  // of the containers being skipped
    // made once, as BlockEvents' readers are: a capturing lambda allocates where it is evaluated
    private final BooleanSupplier skipped = () -> {
        skip();
        return true;
    };
    private final BooleanSupplier skippedObject = () -> object(skipped);
    private final BooleanSupplier skippedArray = () -> array(skipped);

    void reset(byte[] line, int from, int to, boolean asciiLine) {
        bytes = line;
        ascii = asciiLine;
        pos = from;
        end = to;
        depth = 0;
    }

    /** The next byte that is not whitespace, not consumed; 0 at the end of the line. */
    byte next() {
        while (pos < end) {
            byte b = bytes[pos];
            if (b != ' ' && b != '\t' && b != '\r' && b != '\n') {
                return b;
            }
            pos++;
        }
        return 0;
    }

    /** Consumes {@code c} if it comes next. */
    boolean consume(char c) {
        if (next() == c) {
            pos++;
            return true;
        }
        return false;
    }

    void expect(char c) {
        if (!consume(c)) {
            throw NOT_TAKEN;
        }
    }

    boolean atEnd() {
        return next() == 0 && pos == end;
    }

    /** Consumes {@code null} if it comes next. */
    boolean consumeNull() {
        if (next() == 'n') {
            literal("null");
            return true;
        }
        return false;
    }

    /**
     * Reads an object, which must come next (false if it does not): {@code member} reads each
     * member's value, called with its key scanned (see {@link #text()}) and the ':' consumed.
     * False as soon as a call is.
     */
    boolean object(BooleanSupplier member) {
        if (!consume('{')) {
            return false;
        }
        if (consume('}')) {
            return true;
        }
        do {
            string();
            expect(':');
            if (!member.getAsBoolean()) {
                return false;
            }
        } while (consume(','));
        expect('}');
        return true;
    }

    /** Reads an array, which must come next (false if it does not): {@code element} reads each element. */
    boolean array(BooleanSupplier element) {
        if (!consume('[')) {
            return false;
        }
        if (consume(']')) {
            return true;
        }
        do {
            if (!element.getAsBoolean()) {
                return false;
            }
        } while (consume(','));
        expect(']');
        return true;
    }

    /**
     * The high bit of each byte of {@code word} equal to {@code c} (ASCII); bytes above the
     * first match may be flagged too, so only the lowest flag is exact.
     */
    static long bytesEqual(long word, char c) {
        long x = word ^ (ONES * c);
        return (x - ONES) & ~x & HIGH_BITS;
    }

    /** Scans a string, which must come next; {@link #text()} and {@link #textIs} then look at it. */
    void string() {
        expect('"');
        textStart = pos;
        decoded = null;
        while (end - pos >= 8) {  // to the first byte that ends the plain run, 8 at a time
            long word = (long) WORDS.get(bytes, pos);
            long stops = bytesEqual(word, '"') | bytesEqual(word, '\\') | ((word - ONES * 0x20) & ~word & HIGH_BITS);
            if (stops != 0) {
                pos += Long.numberOfTrailingZeros(stops) >>> 3;
                break;
            }
            pos += 8;
        }
        while (true) {
            if (pos == end) {
                throw NOT_TAKEN;
            }
            byte b = bytes[pos];
            if (b == '"') {
                textEnd = pos++;
                return;
            }
            if (b >= 0 && b < 0x20) {  // a control character (a byte of a UTF-8 sequence is negative)
                throw NOT_TAKEN;
            }
            if (b == '\\') {
                unescape();
                return;
            }
            pos++;
        }
    }

    /** The rest of a string with an escape at {@code pos}, decoded. */
    private void unescape() {
        unescaped.setLength(0);
        for (int i = textStart; i < pos; i++) {
            if (bytes[i] < 0) {
                throw NOT_TAKEN;
            }
        }
        unescaped.append(new String(bytes, textStart, pos - textStart, StandardCharsets.ISO_8859_1));
        while (true) {
            if (pos == end) {
                throw NOT_TAKEN;
            }
            byte b = bytes[pos++];
            if (b == '"') {
                textEnd = pos - 1;
                decoded = unescaped.toString();
                return;
            }
            if (b < 0x20) {  // a control character, or a byte of a UTF-8 sequence
                throw NOT_TAKEN;
            }
            if (b != '\\') {
                unescaped.append((char) b);
                continue;
            }
            byte escape = pos < end ? bytes[pos++] : 0;
            switch (escape) {
                case '"': case '\\': case '/':
                    unescaped.append((char) escape);
                    break;
                case 'b': unescaped.append('\b'); break;
                case 'f': unescaped.append('\f'); break;
                case 'n': unescaped.append('\n'); break;
                case 'r': unescaped.append('\r'); break;
                case 't': unescaped.append('\t'); break;
                case 'u':
                    char c = hex4();
                    if (Character.isSurrogate(c)) {  // Python pairs or keeps surrogates: its read
                        throw NOT_TAKEN;
                    }
                    unescaped.append(c);
                    break;
                default:
                    throw NOT_TAKEN;
            }
        }
    }

    /** The four hex digits of a \\u escape. */
    private char hex4() {
        if (end - pos < 4) {
            throw NOT_TAKEN;
        }
        int value = 0;
        for (int i = 0; i < 4; i++) {
            int digit = Character.digit(bytes[pos++], 16);
            if (digit < 0) {
                throw NOT_TAKEN;
            }
            value = value * 16 + digit;
        }
        return (char) value;
    }

    /** The last string's text. */
    String text() {
        return decoded != null ? decoded
                : new String(bytes, textStart, textEnd - textStart, ascii ? StandardCharsets.ISO_8859_1 : StandardCharsets.UTF_8);
    }

    /** Whether the last string's text is {@code name} (ASCII). */
    boolean textIs(String name) {
        if (decoded != null) {
            return decoded.equals(name);
        }
        int length = textEnd - textStart;
        if (length != name.length()) {
            return false;
        }
        for (int i = 0; i < length; i++) {
            if (bytes[textStart + i] != name.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /** The index of the last string's text in {@code names}, or -1. */
    int textIndex(String[] names) {
        for (int i = 0; i < names.length; i++) {
            if (textIs(names[i])) {
                return i;
            }
        }
        return -1;
    }

    /**
     * The next value as a double if it is a number, else NaN (the value is skipped). An integer
     * of more than 18 digits is NaN too, as Python keeps it exact where a double would not.
     */
    double number() {
        byte first = next();
        if (!startsNumber(first)) {
            skip();
            return Double.NaN;
        }
        int start = pos;
        boolean negative = first == '-';
        if (negative) {
            pos++;
        }
        mantissa = 0;
        significant = 0;
        int integerStart = pos;
        int integerDigits = mantissaDigits();
        if (integerDigits == 0 || bytes[integerStart] == '0' && integerDigits > 1) {
            throw NOT_TAKEN;  // no digit, or a leading zero
        }
        boolean integer = true;
        int exponent = 0;
        if (pos < end && bytes[pos] == '.') {
            pos++;
            int fraction = mantissaDigits();
            if (fraction == 0) {
                throw NOT_TAKEN;
            }
            exponent -= fraction;
            integer = false;
        }
        if (pos < end && (bytes[pos] == 'e' || bytes[pos] == 'E')) {
            pos++;
            boolean negativeExponent = pos < end && bytes[pos] == '-';
            if (pos < end && (bytes[pos] == '-' || bytes[pos] == '+')) {
                pos++;
            }
            int exponentStart = pos;
            int explicit = 0;
            while (pos < end && bytes[pos] >= '0' && bytes[pos] <= '9') {
                explicit = Math.min(explicit * 10 + bytes[pos++] - '0', 100_000);
            }
            if (pos == exponentStart) {
                throw NOT_TAKEN;
            }
            exponent += negativeExponent ? -explicit : explicit;
            integer = false;
        }
        if (integer) {
            if (significant > 18) {
                return Double.NaN;
            }
            return (double) (negative ? -mantissa : mantissa);  // -0 is the integer 0, as in Python
        }
        // Clinger's fast path: a mantissa and a power of ten that are both exact doubles give the
        // correctly rounded value in one operation. Anything else goes to Java's exact parser.
        if (significant <= 15 && exponent >= -22 && exponent <= 22) {
            double value = exponent < 0 ? mantissa / POWERS_OF_TEN[-exponent] : mantissa * POWERS_OF_TEN[exponent];
            return negative ? -value : value;
        }
        return Double.parseDouble(new String(bytes, start, pos - start, StandardCharsets.ISO_8859_1));
    }

    /**
     * Adds the digits at {@code pos} to the mantissa, up to 19 significant ones (from the first
     * that is not 0; later ones are counted only), and returns how many there were.
     */
    private int mantissaDigits() {
        int from = pos;
        while (pos < end) {
            int digit = bytes[pos] - '0';
            if (digit < 0 || digit > 9) {
                break;
            }
            if (significant < 19) {
                mantissa = mantissa * 10 + digit;
            }
            if (mantissa != 0) {
                significant++;
            }
            pos++;
        }
        return pos - from;
    }

    /** Skips the next value, checking its grammar. */
    void skip() {
        switch (next()) {
            case '"':
                string();
                return;
            case '{':
                nested(skippedObject);
                return;
            case '[':
                nested(skippedArray);
                return;
            case 't':
                literal("true");
                return;
            case 'f':
                literal("false");
                return;
            case 'n':
                literal("null");
                return;
            default:
                if (!startsNumber(next())) {
                    throw NOT_TAKEN;
                }
                number();
        }
    }

    private static boolean startsNumber(byte b) {
        return b == '-' || b >= '0' && b <= '9';
    }

    /** Skips an object or array, one level deeper. */
    private void nested(BooleanSupplier container) {
        if (++depth > MAX_DEPTH) {
            throw NOT_TAKEN;
        }
        container.getAsBoolean();  // true: the member and element reader skips, and never stops
        depth--;
    }

    private void literal(String word) {
        if (end - pos < word.length()) {
            throw NOT_TAKEN;
        }
        for (int i = 0; i < word.length(); i++) {
            if (bytes[pos + i] != word.charAt(i)) {
                throw NOT_TAKEN;
            }
        }
        pos += word.length();
    }
}

package modelmon.flink;

/**
 * Whether bytes are well-formed UTF-8 (RFC 3629): no overlong form, no surrogate, nothing past
 * U+10FFFF. Such a line decodes to the same text in Java and in Python, whose exact parser
 * replaces what is not UTF-8 with U+FFFD: a line that is not well-formed is left to it.
 */
final class Utf8 {
    private Utf8() {
    }

    static boolean valid(byte[] bytes, int from, int to) {
        int i = from;
        while (i < to) {
            int b = bytes[i] & 0xff;
            if (b < 0x80) {
                i++;
                continue;
            }
            int length;
            int low = 0x80;  // the range of the second byte, which rules out overlong forms and surrogates
            int high = 0xbf;
            if (b >= 0xc2 && b <= 0xdf) {
                length = 2;
            } else if (b >= 0xe0 && b <= 0xef) {
                length = 3;
                if (b == 0xe0) {
                    low = 0xa0;
                } else if (b == 0xed) {
                    high = 0x9f;
                }
            } else if (b >= 0xf0 && b <= 0xf4) {
                length = 4;
                if (b == 0xf0) {
                    low = 0x90;
                } else if (b == 0xf4) {
                    high = 0x8f;
                }
            } else {
                return false;
            }
            if (to - i < length) {
                return false;
            }
            int second = bytes[i + 1] & 0xff;
            if (second < low || second > high) {
                return false;
            }
            for (int k = 2; k < length; k++) {
                int next = bytes[i + k] & 0xff;
                if (next < 0x80 || next > 0xbf) {
                    return false;
                }
            }
            i += length;
        }
        return true;
    }
}

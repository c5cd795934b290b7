package modelmon.flink;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.StreamReadFeature;

/**
 * The plain lines of a block (one event, or a batch of them), read into columns in Java: one
 * Jackson pass per line instead of a Python one, on the source's reader thread.
 *
 * <p>Only lines of one shape are taken: ASCII, one object, the MLRun fields with the types MLRun
 * writes ({@code when} in MLRun's own format, {@code request.inputs} a non-empty list of lists
 * of numbers, string labels, numeric metrics, no key twice; a batch's {@code headers} before its
 * {@code values}). Every other line is left out, and the Python parser reads it from the block
 * as before. Python also makes the checks that need no second look at the line (endpoint
 * identity, time range, latency, outputs) and reads a line that fails one itself. So a line
 * taken here gives exactly what the Python parser would.
 *
 * <p>The result is read by {@code udfs/block_events.py}; its layout (little-endian):
 * <pre>
 * int32 MAGIC, lines, events, rows, values, metrics, metric names, endpoints, string bytes, 0
 * int64 time_ms[events]; float64 microsec[events] (NaN when absent or null); float64 values[values];
 * float64 metric_value[metrics]; int32 line[events], ordinal[events] (1-based, within the line),
 * endpoint[events], rows[events], outputs[events] (-1 when absent), is_error[events],
 * line_crc[events] (the CRC-32 of the event's line, as zlib.crc32 gives it),
 * row_length[rows], metric_event[metrics], metric_name[metrics]; then the strings: each metric
 * name (int32 length, UTF-8), then each endpoint: int32 bit set of the ENDPOINT_FIELDS present,
 * each present one's text, int32 label count, and each label's key and value text.
 * </pre>
 */
final class BlockEvents {
    static final int MAGIC = 0x4d4d4532;
    static final String[] ENDPOINT_FIELDS = {"class", "model", "version", "function_uri", "project", "endpoint_id"};
    private static final Map<String, Integer> FIELD_INDEX = new HashMap<>();
    static {
        for (int f = 0; f < ENDPOINT_FIELDS.length; f++) {
            FIELD_INDEX.put(ENDPOINT_FIELDS[f], f);
        }
    }
    /** udfs.events.BATCH_HEADER_FIELDS: an event's own fields, which a batch's headers may name. */
    static final List<String> BATCH_FIELDS = List.of("request", "op", "resp", "when", "microsec", "metrics", "error");
    static final int MAX_CUSTOM_METRICS = 100;  // udfs.events.MAX_CUSTOM_METRICS: a line with more is left out
    private static final int EARLIEST_YEAR = 1970;
    private static final JsonFactory JSON = JsonFactory.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION, StreamReadFeature.USE_FAST_DOUBLE_PARSER).build();

    private final Column timeMs = new Column();
    private final Column microsec = new Column();  // double bits
    private final Column values = new Column();  // double bits
    private final Column metricValue = new Column();  // double bits
    private final Column line = new Column();
    private final Column ordinal = new Column();
    private final Column endpoint = new Column();
    private final Column rows = new Column();
    private final Column outputs = new Column();
    private final Column isError = new Column();
    private final Column lineCrc = new Column();
    private final Column rowLength = new Column();
    private final Column metricEvent = new Column();
    private final Column metricName = new Column();
    private final Column[] columns = {timeMs, microsec, values, metricValue, line, ordinal, endpoint, rows, outputs,
        isError, lineCrc, rowLength, metricEvent, metricName};
    private final int[] lineStart = new int[columns.length];  // column sizes before the line being read
    private final Map<String, Integer> metricNames = new HashMap<>();
    private final Map<String, Integer> endpoints = new HashMap<>();
    private final List<String> metricNameList = new ArrayList<>();
    private final List<String[]> endpointList = new ArrayList<>();
    private final CRC32 crc = new CRC32();

    // the line being read
    private final String[] fields = new String[ENDPOINT_FIELDS.length];
    private final List<String> labels = new ArrayList<>();
    // the event being read
    private long eventTime;
    private double eventLatency;
    private boolean eventError;
    private boolean eventInputs;
    private int eventOutputs;
    private int eventRowsStart;
    private int eventMetrics;

    /** The columns of {@code block[from, to)}, whose lines end at '\n' (a '\r' before it dropped). */
    byte[] read(byte[] block, int from, int to) {
        for (Column column : columns) {
            column.size = 0;
        }
        metricNames.clear();
        endpoints.clear();
        metricNameList.clear();
        endpointList.clear();
        int lines = 0;
        int start = from;
        while (start < to) {
            int end = start;
            int bits = 0;  // negative when a byte is not ASCII
            while (end < to && block[end] != '\n') {
                bits |= block[end];
                end++;
            }
            int lineEnd = end > start && block[end - 1] == '\r' ? end - 1 : end;
            if (bits >= 0) {  // a line that is not ASCII is left to Python
                readLine(block, start, lineEnd, lines);
            }
            lines++;
            start = end + 1;
        }
        return encode(lines);
    }

    /** Reads an ASCII line into the columns, or leaves them as they were. */
    private void readLine(byte[] bytes, int from, int to, int index) {
        if (to - from < 2 || bytes[from] != '{' || bytes[to - 1] != '}') {
            return;
        }
        for (int c = 0; c < columns.length; c++) {
            lineStart[c] = columns[c].size;
        }
        boolean taken;
        try (JsonParser parser = JSON.createParser(bytes, from, to - from)) {
            taken = readObject(parser, index) && parser.nextToken() == null && hasNoSurrogates();
        } catch (IOException | RuntimeException unreadable) {
            taken = false;
        }
        if (!taken) {
            for (int c = 0; c < columns.length; c++) {
                columns[c].size = lineStart[c];
            }
            return;
        }
        int code = endpointCode();
        while (endpoint.size < line.size) {
            endpoint.add(code);
        }
        // Python samples feature rows by the line's CRC-32; the intrinsic here is cheaper than zlib there.
        crc.reset();
        crc.update(bytes, from, to - from);
        int lineCrcValue = (int) crc.getValue();
        while (lineCrc.size < line.size) {
            lineCrc.add(lineCrcValue);
        }
    }

    /**
     * Reads a line's object: one event, or a batch ({@code headers} before {@code values}, no
     * event field outside them); false for a line Python must read.
     */
    private boolean readObject(JsonParser parser, int index) throws IOException {
        if (parser.nextToken() != JsonToken.START_OBJECT) {
            return false;
        }
        Arrays.fill(fields, null);
        labels.clear();
        String[] headers = null;
        boolean batch = false;
        boolean eventFields = false;
        startEvent();
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
            String name = parser.currentName();
            JsonToken value = parser.nextToken();
            Integer field = FIELD_INDEX.get(name);
            if (field != null) {
                if (value != JsonToken.VALUE_STRING) {
                    return false;
                }
                fields[field] = parser.getText();
            } else if (name.equals("labels")) {
                if (!readLabels(parser, value)) {
                    return false;
                }
            } else if (name.equals("headers")) {
                if ((headers = readHeaders(parser, value)) == null) {
                    return false;
                }
            } else if (name.equals("values")) {
                if (headers == null || !readBatch(parser, value, headers, index)) {
                    return false;
                }
                batch = true;
            } else if (BATCH_FIELDS.contains(name)) {
                eventFields |= !name.equals("op");
                if (!readEventField(parser, name, value)) {
                    return false;
                }
            } else {
                parser.skipChildren();
            }
        }
        if (headers != null) {
            return batch && !eventFields;
        }
        return endEvent(index, 1);
    }

    private boolean readLabels(JsonParser parser, JsonToken value) throws IOException {
        if (value != JsonToken.START_OBJECT) {
            return false;
        }
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
            String key = parser.currentName();
            if (parser.nextToken() != JsonToken.VALUE_STRING) {
                return false;
            }
            labels.add(key);
            labels.add(parser.getText());
        }
        return true;
    }

    /** Distinct names of event fields; null for anything else. */
    private static String[] readHeaders(JsonParser parser, JsonToken value) throws IOException {
        if (value != JsonToken.START_ARRAY) {
            return null;
        }
        List<String> headers = new ArrayList<>();
        JsonToken token;
        while ((token = parser.nextToken()) != JsonToken.END_ARRAY) {
            String header = token == JsonToken.VALUE_STRING ? parser.getText() : null;
            if (header == null || !BATCH_FIELDS.contains(header) || headers.contains(header)) {
                return null;
            }
            headers.add(header);
        }
        return headers.isEmpty() ? null : headers.toArray(new String[0]);
    }

    /** A batch's rows, each as many values as headers, at least one row. */
    private boolean readBatch(JsonParser parser, JsonToken value, String[] headers, int index) throws IOException {
        if (value != JsonToken.START_ARRAY) {
            return false;
        }
        int count = 0;
        JsonToken row;
        while ((row = parser.nextToken()) != JsonToken.END_ARRAY) {
            if (row != JsonToken.START_ARRAY) {
                return false;
            }
            startEvent();
            for (String header : headers) {
                JsonToken field = parser.nextToken();
                if (field == JsonToken.END_ARRAY || !readEventField(parser, header, field)) {
                    return false;
                }
            }
            if (parser.nextToken() != JsonToken.END_ARRAY || !endEvent(index, ++count)) {
                return false;
            }
        }
        return count > 0;
    }

    private void startEvent() {
        eventTime = Long.MIN_VALUE;
        eventLatency = Double.NaN;
        eventError = false;
        eventInputs = false;
        eventOutputs = -1;
        eventRowsStart = rowLength.size;
        eventMetrics = 0;
    }

    /** One field of an event; false when its value is not of the shape MLRun writes. */
    private boolean readEventField(JsonParser parser, String name, JsonToken value) throws IOException {
        switch (name) {
            case "when":
                return value == JsonToken.VALUE_STRING
                        && (eventTime = mlrunTime(parser.getText())) != Long.MIN_VALUE;
            case "microsec":
                eventLatency = number(parser, value);
                return value == JsonToken.VALUE_NULL || !Double.isNaN(eventLatency);
            case "error":
                eventError = value == JsonToken.VALUE_STRING;
                return eventError || value == JsonToken.VALUE_NULL;
            case "request":
                if (value != JsonToken.START_OBJECT) {
                    return false;
                }
                while (parser.nextToken() == JsonToken.FIELD_NAME) {
                    if (parser.currentName().equals("inputs")) {
                        if (!readInputs(parser)) {
                            return false;
                        }
                        eventInputs = true;
                    } else {
                        parser.nextToken();
                        parser.skipChildren();
                    }
                }
                return true;
            case "resp":
                if (value != JsonToken.START_OBJECT) {
                    return value == JsonToken.VALUE_NULL;  // as absent: an error's
                }
                while (parser.nextToken() == JsonToken.FIELD_NAME) {
                    boolean isOutputs = parser.currentName().equals("outputs");
                    JsonToken child = parser.nextToken();
                    if (!isOutputs) {
                        parser.skipChildren();
                    } else if (child != JsonToken.START_ARRAY) {
                        return false;
                    } else {
                        eventOutputs = 0;
                        while (parser.nextToken() != JsonToken.END_ARRAY) {
                            parser.skipChildren();
                            eventOutputs++;
                        }
                    }
                }
                return true;
            case "metrics":
                if (value == JsonToken.VALUE_NULL) {
                    return true;
                }
                if (value != JsonToken.START_OBJECT) {
                    return false;
                }
                while (parser.nextToken() == JsonToken.FIELD_NAME) {
                    String key = parser.currentName();
                    double number = number(parser, parser.nextToken());
                    if (Double.isNaN(number) || ++eventMetrics > MAX_CUSTOM_METRICS || hasSurrogate(key)) {
                        return false;
                    }
                    metricEvent.add(line.size);  // the index this event gets
                    metricName.add(metricNames.computeIfAbsent(key, unused -> {
                        metricNameList.add(key);
                        return metricNameList.size() - 1;
                    }));
                    metricValue.add(Double.doubleToRawLongBits(number));
                }
                return true;
            default:  // op
                parser.skipChildren();
                return true;
        }
    }

    /** Adds the event read since {@link #startEvent()}, if it has a time and inputs. */
    private boolean endEvent(int index, int position) {
        if (eventTime == Long.MIN_VALUE || !eventInputs) {
            return false;
        }
        line.add(index);
        ordinal.add(position);
        timeMs.add(eventTime);
        microsec.add(Double.doubleToRawLongBits(eventLatency));
        isError.add(eventError ? 1 : 0);
        outputs.add(eventOutputs);
        rows.add(rowLength.size - eventRowsStart);
        return true;
    }

    /** A JSON number as a double; NaN for anything else (null, a string, an integer past 64 bits). */
    private static double number(JsonParser parser, JsonToken token) throws IOException {
        if (token == JsonToken.VALUE_NUMBER_INT) {
            return parser.getNumberType() == JsonParser.NumberType.BIG_INTEGER ? Double.NaN : parser.getLongValue();
        }
        return token == JsonToken.VALUE_NUMBER_FLOAT ? parser.getDoubleValue() : Double.NaN;
    }

    /** {@code [[number, ...], ...]}, at least one row; no null row or value, no infinite value. */
    private boolean readInputs(JsonParser parser) throws IOException {
        if (parser.nextToken() != JsonToken.START_ARRAY) {
            return false;
        }
        int count = 0;
        JsonToken row;
        while ((row = parser.nextToken()) != JsonToken.END_ARRAY) {
            if (row != JsonToken.START_ARRAY) {
                return false;
            }
            int length = 0;
            JsonToken token;
            while ((token = parser.nextToken()) != JsonToken.END_ARRAY) {
                double value = number(parser, token);
                if (Double.isNaN(value) || Double.isInfinite(value)) {
                    return false;
                }
                values.add(Double.doubleToRawLongBits(value));
                length++;
            }
            rowLength.add(length);
            count++;
        }
        return count > 0;
    }

    /** Lone surrogates (from \\u escapes) have no UTF-8: Python reads such lines. */
    private boolean hasNoSurrogates() {
        for (String text : fields) {
            if (text != null && hasSurrogate(text)) {
                return false;
            }
        }
        for (String text : labels) {
            if (hasSurrogate(text)) {
                return false;
            }
        }
        return true;
    }

    private static boolean hasSurrogate(String text) {
        for (int i = 0; i < text.length(); i++) {
            if (Character.isSurrogate(text.charAt(i))) {
                return true;
            }
        }
        return false;
    }

    /**
     * Epoch ms of MLRun's {@code YYYY-MM-DD HH:MM:SS[.ffffff]+00:00} with a real date from 1970 on,
     * the fraction cut to milliseconds; Long.MIN_VALUE for any other text.
     */
    static long mlrunTime(String text) {
        int length = text.length();
        if (length != 25 && length != 32 || !text.endsWith("+00:00")) {
            return Long.MIN_VALUE;
        }
        String pattern = length == 25 ? "dddd-dd-dd dd:dd:dd" : "dddd-dd-dd dd:dd:dd.dddddd";
        for (int i = 0; i < pattern.length(); i++) {
            char c = text.charAt(i);
            boolean ok = pattern.charAt(i) == 'd' ? c >= '0' && c <= '9' : c == pattern.charAt(i);
            if (!ok) {
                return Long.MIN_VALUE;
            }
        }
        int year = digits(text, 0, 4);
        int month = digits(text, 5, 7);
        int day = digits(text, 8, 10);
        int hour = digits(text, 11, 13);
        int minute = digits(text, 14, 16);
        int second = digits(text, 17, 19);
        if (year < EARLIEST_YEAR || month < 1 || month > 12 || day < 1
                || day > LocalDate.of(year, month, 1).lengthOfMonth() || hour > 23 || minute > 59 || second > 59) {
            return Long.MIN_VALUE;
        }
        long millis = length == 32 ? digits(text, 20, 23) : 0;
        return LocalDate.of(year, month, day).toEpochDay() * 86_400_000L
                + ((hour * 60L + minute) * 60L + second) * 1000L + millis;
    }

    private static int digits(String text, int from, int to) {
        int value = 0;
        for (int i = from; i < to; i++) {
            value = value * 10 + (text.charAt(i) - '0');
        }
        return value;
    }

    /** The code of the line's endpoint fields and labels within this block. */
    private int endpointCode() {
        StringBuilder key = new StringBuilder();
        for (String field : fields) {
            key.append(field == null ? -1 : field.length()).append(':').append(field == null ? "" : field);
        }
        for (String text : labels) {
            key.append(text.length()).append(':').append(text);
        }
        return endpoints.computeIfAbsent(key.toString(), unused -> {
            String[] described = new String[fields.length + labels.size()];
            System.arraycopy(fields, 0, described, 0, fields.length);
            for (int i = 0; i < labels.size(); i++) {
                described[fields.length + i] = labels.get(i);
            }
            endpointList.add(described);
            return endpointList.size() - 1;
        });
    }

    private byte[] encode(int lines) {
        List<byte[]> strings = new ArrayList<>();
        int stringBytes = 0;
        for (String name : metricNameList) {
            stringBytes += addString(strings, name);
        }
        for (String[] described : endpointList) {
            int present = 0;
            for (int f = 0; f < ENDPOINT_FIELDS.length; f++) {
                present |= described[f] == null ? 0 : 1 << f;
            }
            strings.add(intBytes(present));
            stringBytes += 4;
            for (int f = 0; f < ENDPOINT_FIELDS.length; f++) {
                if (described[f] != null) {
                    stringBytes += addString(strings, described[f]);
                }
            }
            strings.add(intBytes((described.length - ENDPOINT_FIELDS.length) / 2));
            stringBytes += 4;
            for (int i = ENDPOINT_FIELDS.length; i < described.length; i++) {
                stringBytes += addString(strings, described[i]);
            }
        }
        int events = line.size;
        int size = 40 + 8 * (2 * events + values.size + metricValue.size)
                + 4 * (7 * events + rowLength.size + 2 * metricEvent.size) + stringBytes;
        ByteBuffer out = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        for (int header : new int[] {MAGIC, lines, events, rowLength.size, values.size, metricValue.size,
                metricNameList.size(), endpointList.size(), stringBytes, 0}) {
            out.putInt(header);
        }
        for (Column column : new Column[] {timeMs, microsec, values, metricValue}) {
            out.asLongBuffer().put(column.data, 0, column.size);
            out.position(out.position() + 8 * column.size);
        }
        for (Column column : new Column[] {line, ordinal, endpoint, rows, outputs, isError, lineCrc, rowLength,
                metricEvent, metricName}) {
            for (int k = 0; k < column.size; k++) {
                out.putInt((int) column.data[k]);
            }
        }
        for (byte[] piece : strings) {
            out.put(piece);
        }
        return out.array();
    }

    private static int addString(List<byte[]> strings, String text) {
        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
        strings.add(intBytes(utf8.length));
        strings.add(utf8);
        return 4 + utf8.length;
    }

    private static byte[] intBytes(int value) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(value).array();
    }

    /** A growing column of int64 (or double bits); int32 columns are written narrowed. */
    private static final class Column {
        long[] data = new long[1024];
        int size;

        void add(long value) {
            if (size == data.length) {
                data = Arrays.copyOf(data, size * 2);
            }
            data[size++] = value;
        }
    }

    /**
     * For tests: reads blocks from stdin (int32 length, then the bytes; big-endian) and writes
     * each block's columns to stdout the same way, until stdin ends.
     */
    public static void main(String[] args) throws IOException {
        DataInputStream in = new DataInputStream(System.in);
        DataOutputStream out = new DataOutputStream(System.out);
        BlockEvents reader = new BlockEvents();
        while (true) {
            int length;
            try {
                length = in.readInt();
            } catch (EOFException end) {
                break;
            }
            byte[] block = new byte[length];
            in.readFully(block);
            byte[] columns = reader.read(block, 0, length);
            out.writeInt(columns.length);
            out.write(columns);
            out.flush();
        }
    }
}

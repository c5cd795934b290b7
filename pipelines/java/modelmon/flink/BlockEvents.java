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
import java.util.function.BooleanSupplier;
import java.util.zip.CRC32;

/**
 * The plain lines of a block (one event, or a batch of them), read into columns in Java: one
 * scan per line ({@link JsonCursor}) instead of a Python parse, on the source's reader thread.
 *
 * <p>Only lines of one shape are taken: ASCII, one object, the MLRun fields with the types MLRun
 * writes ({@code when} in MLRun's own format, {@code request.inputs} a non-empty list of lists
 * of numbers, string labels, numeric metrics, no key read twice; a batch's {@code headers} before its
 * {@code values}). Every other line is left out, and the Python parser reads it from the block
 * as before. Python also makes the checks that need no second look at the line (endpoint
 * identity, time range, latency, outputs) and reads a line that fails one itself. So a line
 * taken here gives exactly what the Python parser would.
 *
 * <p>The result also says where each line of the block is, and may say where the block itself
 * is in a local file, so that Python can read the few lines it needs (sampled, left out, or
 * dead letters) without the whole block crossing to it beside its columns.
 *
 * <p>The result is read by {@code udfs/block_events.py}; its layout (little-endian):
 * <pre>
 * int32 MAGIC, lines, events, rows, values, metrics, metric names, endpoints, string bytes,
 *   file bytes (0 when the block travels beside the columns)
 * int64 time_ms[events]; float64 microsec[events] (NaN when absent or null); float64 values[values];
 * float64 metric_value[metrics]; int32 line[events], ordinal[events] (1-based, within the line),
 * endpoint[events], rows[events], outputs[events] (-1 when absent), is_error[events],
 * line_crc[events] (the CRC-32 of the event's line, as zlib.crc32 gives it),
 * row_length[rows], metric_event[metrics], metric_name[metrics], line_start[lines],
 * line_stop[lines] (each line's bytes in the block, without its '\n' and a '\r' before it);
 * then the strings: each metric name (int32 length, UTF-8), then each endpoint: int32 bit set of
 * the ENDPOINT_FIELDS present, each present one's text, int32 label count, and each label's key
 * and value text; then, with file bytes, the file's local path (UTF-8) and int64 offset and
 * length of the block in it.
 * </pre>
 */
final class BlockEvents {
    static final int MAGIC = 0x4d4d4533;
    static final String[] ENDPOINT_FIELDS = {"class", "model", "version", "function_uri", "project", "endpoint_id"};
    /** udfs.events.BATCH_HEADER_FIELDS: an event's own fields, which a batch's headers may name. */
    static final String[] BATCH_FIELDS = {"request", "op", "resp", "when", "microsec", "metrics", "error"};
    private static final int REQUEST = 0;
    private static final int OP = 1;
    private static final int RESP = 2;
    private static final int WHEN = 3;
    private static final int MICROSEC = 4;
    private static final int METRICS = 5;
    private static final int ERROR = 6;
    /** The keys of a line whose values are read: ENDPOINT_FIELDS, labels, headers, values, BATCH_FIELDS. */
    private static final String[] LINE_KEYS = new String[ENDPOINT_FIELDS.length + 3 + BATCH_FIELDS.length];
    private static final int LABELS = ENDPOINT_FIELDS.length;
    private static final int HEADERS = LABELS + 1;
    private static final int VALUES = LABELS + 2;
    private static final int FIRST_EVENT_FIELD = LABELS + 3;
    static {
        System.arraycopy(ENDPOINT_FIELDS, 0, LINE_KEYS, 0, ENDPOINT_FIELDS.length);
        LINE_KEYS[LABELS] = "labels";
        LINE_KEYS[HEADERS] = "headers";
        LINE_KEYS[VALUES] = "values";
        System.arraycopy(BATCH_FIELDS, 0, LINE_KEYS, FIRST_EVENT_FIELD, BATCH_FIELDS.length);
    }
    static final int MAX_CUSTOM_METRICS = 100;  // udfs.events.MAX_CUSTOM_METRICS: a line with more is left out
    private static final int EARLIEST_YEAR = 1970;

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
    private final Column lineStart = new Column();  // per line of the block, not per event
    private final Column lineStop = new Column();
    private final Column[] columns = {timeMs, microsec, values, metricValue, line, ordinal, endpoint, rows, outputs,
        isError, lineCrc, rowLength, metricEvent, metricName};
    private final int[] sizesBefore = new int[columns.length];  // column sizes before the line being read
    private final Map<String, Integer> metricNames = new HashMap<>();
    private final Map<String, Integer> endpoints = new HashMap<>();
    private final List<String> metricNameList = new ArrayList<>();
    private final List<String[]> endpointList = new ArrayList<>();
    private final CRC32 crc = new CRC32();
    private final JsonCursor json = new JsonCursor();

    // the line being read
    private final String[] fields = new String[ENDPOINT_FIELDS.length];
    private final List<String> labels = new ArrayList<>();  // key, value, key, value, ...
    private int lineIndex;
    private int lineKeys;  // bit set of the LINE_KEYS read
    private int[] headers;  // BATCH_FIELDS indexes; null for a line that is one event
    private final int[] headerFields = new int[BATCH_FIELDS.length];
    private int headerCount;
    private int batchEvents;
    private boolean eventFields;  // an event field outside a batch's rows
    private int rowField;  // the batch row's next header
    // what reads each member or element of the line's objects and arrays (made once: a method
    // reference allocates where it is evaluated)
    private final BooleanSupplier lineMember = this::readLineMember;
    private final BooleanSupplier labelMember = this::readLabel;
    private final BooleanSupplier header = this::readHeader;
    private final BooleanSupplier batchRow = this::readBatchRow;
    private final BooleanSupplier batchValue = this::readBatchValue;
    private final BooleanSupplier requestMember = this::readRequestMember;
    private final BooleanSupplier responseMember = this::readResponseMember;
    private final BooleanSupplier output = this::countOutput;
    private final BooleanSupplier metric = this::readMetric;
    private final BooleanSupplier inputRow = this::readInputRow;
    private final BooleanSupplier inputValue = this::readInputValue;
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
        return read(block, from, to, null, 0);
    }

    /**
     * The same, saying that the block is the bytes at {@code fileOffset} of the local file
     * {@code file} (null: the block travels beside the columns).
     */
    byte[] read(byte[] block, int from, int to, String file, long fileOffset) {
        for (Column column : columns) {
            column.size = 0;
        }
        lineStart.size = 0;
        lineStop.size = 0;
        metricNames.clear();
        endpoints.clear();
        metricNameList.clear();
        endpointList.clear();
        int lines = 0;
        int start = from;
        while (start < to) {
            int end = start;
            long highBits = 0;  // not 0 when a byte is not ASCII
            while (to - end >= 8) {  // 8 bytes at a time to the line's end
                long word = (long) JsonCursor.WORDS.get(block, end);
                long newlines = JsonCursor.bytesEqual(word, '\n');
                if (newlines != 0) {
                    int before = Long.numberOfTrailingZeros(newlines) >>> 3;
                    highBits |= word & ((1L << 8 * before) - 1) & JsonCursor.HIGH_BITS;
                    end += before;
                    break;
                }
                highBits |= word & JsonCursor.HIGH_BITS;
                end += 8;
            }
            while (end < to && block[end] != '\n') {
                highBits |= block[end] & 0x80;
                end++;
            }
            int lineEnd = end > start && block[end - 1] == '\r' ? end - 1 : end;
            if (highBits == 0) {  // a line that is not ASCII is left to Python
                readLine(block, start, lineEnd, lines);
            }
            lineStart.add(start - from);
            lineStop.add(lineEnd - from);
            lines++;
            start = end + 1;
        }
        return encode(lines, file, fileOffset, to - from);
    }

    /** Reads an ASCII line into the columns, or leaves them as they were. */
    private void readLine(byte[] bytes, int from, int to, int index) {
        if (to - from < 2 || bytes[from] != '{' || bytes[to - 1] != '}') {
            return;
        }
        for (int c = 0; c < columns.length; c++) {
            sizesBefore[c] = columns[c].size;
        }
        json.reset(bytes, from, to);
        boolean taken;
        try {
            taken = readObject(index) && json.atEnd();
        } catch (RuntimeException notTaken) {  // JsonCursor.NOT_TAKEN; anything else must not stop the job either
            taken = false;
        }
        if (!taken) {
            for (int c = 0; c < columns.length; c++) {
                columns[c].size = sizesBefore[c];
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
     * event field outside them); false for a line Python must read. A key whose value is kept
     * may appear once only (Python's last one would win); other keys are skipped as Python
     * ignores them, however often they come.
     */
    private boolean readObject(int index) {
        Arrays.fill(fields, null);
        labels.clear();
        lineIndex = index;
        lineKeys = 0;
        headers = null;
        batchEvents = 0;
        eventFields = false;
        startEvent();
        if (!json.object(lineMember)) {
            return false;
        }
        if (headers != null) {
            return batchEvents > 0 && !eventFields;
        }
        return endEvent(index, 1);
    }

    private boolean readLineMember() {
        int key = json.textIndex(LINE_KEYS);
        if (key < 0) {
            json.skip();
            return true;
        }
        if ((lineKeys & 1 << key) != 0) {
            return false;
        }
        lineKeys |= 1 << key;
        if (key < ENDPOINT_FIELDS.length) {
            return (fields[key] = stringValue()) != null;
        } else if (key == LABELS) {
            return json.object(labelMember);
        } else if (key == HEADERS) {
            return (headers = readHeaders()) != null;
        } else if (key == VALUES) {
            return headers != null && json.array(batchRow) && batchEvents > 0;
        }
        int field = key - FIRST_EVENT_FIELD;
        eventFields |= field != OP;
        return readEventField(field);
    }

    /** The next value's text if it is a string, else null. */
    private String stringValue() {
        if (json.next() != '"') {
            return null;
        }
        json.string();
        return json.text();
    }

    private boolean readLabel() {
        String key = json.text();
        for (int i = 0; i < labels.size(); i += 2) {
            if (labels.get(i).equals(key)) {
                return false;  // a key twice: Python keeps the last
            }
        }
        String value = stringValue();
        if (value == null) {
            return false;
        }
        labels.add(key);
        labels.add(value);
        return true;
    }

    /** Distinct names of event fields, as BATCH_FIELDS indexes; null for anything else. */
    private int[] readHeaders() {
        headerCount = 0;
        return json.array(header) && headerCount > 0 ? Arrays.copyOf(headerFields, headerCount) : null;
    }

    private boolean readHeader() {
        if (json.next() != '"') {
            return false;
        }
        json.string();
        int field = json.textIndex(BATCH_FIELDS);
        if (field < 0) {
            return false;
        }
        for (int h = 0; h < headerCount; h++) {
            if (headerFields[h] == field) {
                return false;
            }
        }
        headerFields[headerCount++] = field;
        return true;
    }

    /** A batch's row: as many values as headers. */
    private boolean readBatchRow() {
        startEvent();
        rowField = 0;
        return json.array(batchValue) && rowField == headers.length && endEvent(lineIndex, ++batchEvents);
    }

    private boolean readBatchValue() {
        return rowField < headers.length && readEventField(headers[rowField++]);
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

    /** One field of an event (a BATCH_FIELDS index); false when its value is not of the shape MLRun writes. */
    private boolean readEventField(int field) {
        switch (field) {
            case WHEN:
                String when = stringValue();
                return when != null && (eventTime = mlrunTime(when)) != Long.MIN_VALUE;
            case MICROSEC:
                if (json.consumeNull()) {
                    return true;  // eventLatency stays NaN
                }
                eventLatency = json.number();
                return !Double.isNaN(eventLatency);
            case ERROR:
                eventError = stringValue() != null;
                return eventError || json.consumeNull();
            case REQUEST:
                return json.object(requestMember);
            case RESP:
                return json.consumeNull() || json.object(responseMember);  // null: as absent, an error's
            case METRICS:
                return json.consumeNull() || json.object(metric);
            default:  // OP
                json.skip();
                return true;
        }
    }

    /** A member of {@code request}: its {@code inputs} are read, once. */
    private boolean readRequestMember() {
        if (!json.textIs("inputs")) {
            json.skip();
            return true;
        }
        int rowsBefore = rowLength.size;
        if (eventInputs || !json.array(inputRow)) {
            return false;
        }
        eventInputs = true;
        return rowLength.size > rowsBefore;  // at least one row
    }

    /** A member of {@code resp}: its {@code outputs}, if there, are a list, counted once. */
    private boolean readResponseMember() {
        if (!json.textIs("outputs")) {
            json.skip();
            return true;
        }
        if (eventOutputs >= 0) {
            return false;
        }
        eventOutputs = 0;
        return json.array(output);
    }

    private boolean countOutput() {
        json.skip();
        eventOutputs++;
        return true;
    }

    /** A member of {@code metrics}: a number under a name this event has not used, at most MAX_CUSTOM_METRICS. */
    private boolean readMetric() {
        String key = json.text();
        double number = json.number();
        if (Double.isNaN(number) || ++eventMetrics > MAX_CUSTOM_METRICS) {
            return false;
        }
        int name = metricNames.computeIfAbsent(key, unused -> {
            metricNameList.add(key);
            return metricNameList.size() - 1;
        });
        for (int m = metricName.size - eventMetrics + 1; m < metricName.size; m++) {
            if (metricName.data[m] == name) {
                return false;  // a key twice: Python keeps the last
            }
        }
        metricEvent.add(line.size);  // the index this event gets
        metricName.add(name);
        metricValue.add(Double.doubleToRawLongBits(number));
        return true;
    }

    /** A row of {@code request.inputs}: {@code [number, ...]}, no null or infinite value. */
    private boolean readInputRow() {
        int valuesBefore = values.size;
        if (!json.array(inputValue)) {
            return false;
        }
        rowLength.add(values.size - valuesBefore);
        return true;
    }

    private boolean readInputValue() {
        double value = json.number();
        if (Double.isNaN(value) || Double.isInfinite(value)) {
            return false;
        }
        values.add(Double.doubleToRawLongBits(value));
        return true;
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

    private byte[] encode(int lines, String file, long fileOffset, int blockLength) {
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
        byte[] path = file == null ? new byte[0] : file.getBytes(StandardCharsets.UTF_8);
        int events = line.size;
        int size = 40 + 8 * (2 * events + values.size + metricValue.size)
                + 4 * (7 * events + rowLength.size + 2 * metricEvent.size + 2 * lines) + stringBytes
                + (file == null ? 0 : path.length + 16);
        ByteBuffer out = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        for (int header : new int[] {MAGIC, lines, events, rowLength.size, values.size, metricValue.size,
                metricNameList.size(), endpointList.size(), stringBytes, path.length}) {
            out.putInt(header);
        }
        for (Column column : new Column[] {timeMs, microsec, values, metricValue}) {
            out.asLongBuffer().put(column.data, 0, column.size);
            out.position(out.position() + 8 * column.size);
        }
        for (Column column : new Column[] {line, ordinal, endpoint, rows, outputs, isError, lineCrc, rowLength,
                metricEvent, metricName, lineStart, lineStop}) {
            for (int k = 0; k < column.size; k++) {
                out.putInt((int) column.data[k]);
            }
        }
        for (byte[] piece : strings) {
            out.put(piece);
        }
        if (file != null) {
            out.put(path).putLong(fileOffset).putLong(blockLength);
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

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
 * The fast reader of the event contract: the plain lines of a block (one event, or a batch of
 * them), or one Kafka message, read into columns in Java: one scan per line ({@link JsonCursor})
 * instead of a Python parse, on the source's reader thread.
 *
 * <p>Only lines of one shape are taken: valid UTF-8, one object, the MLRun fields with the types
 * MLRun writes ({@code when} in MLRun's own format, {@code request.inputs} a non-empty list of
 * lists of finite numbers, strings, booleans and nulls, string labels, numeric metrics, no key
 * read twice; a batch's {@code headers} before its {@code values}), and every event valid by the
 * contract's limits ({@link Contract},
 * generated from {@code modelmon/udfs/contract.py}): a time the store keeps, a success's latency
 * a non-negative number below 2^53 and as many outputs as input rows. A batch is taken whole or
 * not at all. Every other line is left out, and the exact Python parser reads it. Python checks
 * only the endpoint's fields (its identity rules live in one place, {@code contract.py}), and
 * reads a line whose endpoint does not hold itself. So a line taken here gives exactly what the
 * exact parser would: the differential tests hold the two equal.
 *
 * <p>The result also says where each line of the block is, and may say where the block itself
 * is in a local file, so that Python can read the few lines it needs (sampled, left out, or
 * dead letters) without the whole block crossing to it beside its columns. Its layout is
 * described, and read, by {@code modelmon/udfs/java_events.py}.
 */
final class BlockEvents {
    static final int MAGIC = 0x4d4d4535;
    private static final String[] ENDPOINT_FIELDS = Contract.ENDPOINT_FIELDS;
    /** An event's own fields, which a batch's headers may name. */
    private static final String[] BATCH_FIELDS = Contract.BATCH_FIELDS;
    private static final int REQUEST = batchField("request");
    private static final int OP = batchField("op");
    private static final int RESP = batchField("resp");
    private static final int WHEN = batchField("when");
    private static final int MICROSEC = batchField("microsec");
    private static final int METRICS = batchField("metrics");
    private static final int ERROR = batchField("error");
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

    private static int batchField(String name) {
        int index = Arrays.asList(BATCH_FIELDS).indexOf(name);
        if (index < 0) {
            throw new IllegalStateException("the contract has no event field " + name);
        }
        return index;
    }

    private final Column timeMs = new Column();
    private final Column microsec = new Column();  // double bits
    private final Column values = new Column();  // double bits
    private final Column metricValue = new Column();  // double bits
    private final Column line = new Column();
    private final Column ordinal = new Column();
    private final Column endpoint = new Column();
    private final Column rows = new Column();
    private final Column isError = new Column();
    private final Column lineCrc = new Column();
    private final Column rowLength = new Column();
    private final Column metricEvent = new Column();
    private final Column metricName = new Column();
    private final Column lineStart = new Column();  // per line of the block, not per event
    private final Column lineStop = new Column();
    private final Column codedValue = new Column();  // the index of each value that is not a number
    private final Column valueCode = new Column();  // its code: Contract.VALUE_* or the index of its text
    private final Column[] columns = {timeMs, microsec, values, metricValue, line, ordinal, endpoint, rows,
        isError, lineCrc, rowLength, metricEvent, metricName, codedValue, valueCode};
    private final int[] sizesBefore = new int[columns.length];  // column sizes before the line being read
    private final Map<String, Integer> metricNames = new HashMap<>();
    private final Map<String, Integer> endpoints = new HashMap<>();
    private final List<String> metricNameList = new ArrayList<>();
    private final Map<String, Integer> valueTexts = new HashMap<>();
    private final List<String> valueTextList = new ArrayList<>();
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
    private int eventValuesStart;
    private int eventCodedStart;
    private int eventMetricsStart;
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
        clear();
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
            readLine(block, start, lineEnd, lines, highBits == 0);
            lineStart.add(start - from);
            lineStop.add(lineEnd - from);
            lines++;
            start = end + 1;
        }
        return encode(lines, file, fileOffset, to - from);
    }

    /** The columns of one message (a Kafka record's value): one line, whatever it holds. */
    byte[] readMessage(byte[] message) {
        clear();
        int length = message == null ? 0 : message.length;
        if (message != null) {
            boolean ascii = true;
            for (byte b : message) {
                ascii &= b >= 0;
            }
            readLine(message, 0, length, 0, ascii);
        }
        lineStart.add(0);
        lineStop.add(length);
        return encode(1, null, 0, length);
    }

    private void clear() {
        for (Column column : columns) {
            column.size = 0;
        }
        lineStart.size = 0;
        lineStop.size = 0;
        metricNames.clear();
        endpoints.clear();
        metricNameList.clear();
        endpointList.clear();
        valueTexts.clear();
        valueTextList.clear();
    }

    /** Reads a line into the columns, or leaves them as they were; a line that is not ASCII must be UTF-8. */
    private void readLine(byte[] bytes, int from, int to, int index, boolean ascii) {
        if (to - from < 2 || bytes[from] != '{' || bytes[to - 1] != '}' || !ascii && !Utf8.valid(bytes, from, to)) {
            return;
        }
        for (int c = 0; c < columns.length; c++) {
            sizesBefore[c] = columns[c].size;
        }
        json.reset(bytes, from, to, ascii);
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
        eventValuesStart = values.size;
        eventCodedStart = codedValue.size;
        eventMetricsStart = metricName.size;
        eventMetrics = 0;
    }

    /** One field of an event (a BATCH_FIELDS index); false when its value is not of the shape MLRun writes. */
    private boolean readEventField(int field) {
        if (field == WHEN) {
            String when = stringValue();
            return when != null && (eventTime = mlrunTime(when)) != Long.MIN_VALUE;
        } else if (field == MICROSEC) {
            if (json.consumeNull()) {
                return true;  // eventLatency stays NaN
            }
            eventLatency = json.number();
            return !Double.isNaN(eventLatency);
        } else if (field == ERROR) {
            eventError = stringValue() != null;
            return eventError || json.consumeNull();
        } else if (field == REQUEST) {
            return json.object(requestMember);
        } else if (field == RESP) {
            return json.consumeNull() || json.object(responseMember);  // null: as absent, an error's
        } else if (field == METRICS) {
            return json.consumeNull() || json.object(metric);
        }
        json.skip();  // OP
        return true;
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

    /**
     * A member of {@code metrics}: a finite number under a name this event has not used, at most
     * MAX_CUSTOM_METRICS of them. A name longer than MAX_METRIC_NAME is not monitored: counted, not kept.
     */
    private boolean readMetric() {
        String key = json.text();
        double number = json.number();
        if (Double.isNaN(number) || Double.isInfinite(number) || ++eventMetrics > Contract.MAX_CUSTOM_METRICS) {
            return false;
        }
        if (key.codePointCount(0, key.length()) > Contract.MAX_METRIC_NAME) {
            return true;  // Python leaves it out whatever its value, and however often it comes
        }
        int name = metricNames.computeIfAbsent(key, unused -> {
            metricNameList.add(key);
            return metricNameList.size() - 1;
        });
        for (int m = eventMetricsStart; m < metricName.size; m++) {
            if (metricName.data[m] == name) {
                return false;  // a key twice: Python keeps the last
            }
        }
        metricEvent.add(line.size);  // the index this event gets
        metricName.add(name);
        metricValue.add(Double.doubleToRawLongBits(number));
        return true;
    }

    /** A row of {@code request.inputs}: {@code [value, ...]}, each a finite number, a string, a boolean or null. */
    private boolean readInputRow() {
        int valuesBefore = values.size;
        if (!json.array(inputValue)) {
            return false;
        }
        rowLength.add(values.size - valuesBefore);
        return true;
    }

    private boolean readInputValue() {
        byte next = json.next();
        int code;
        if (next == '"') {
            json.string();
            String text = json.text();
            code = valueTexts.computeIfAbsent(text, unused -> {
                valueTextList.add(text);
                return valueTextList.size() - 1;
            });
        } else if (next == 't' || next == 'f' || next == 'n') {
            json.skip();  // checks the literal
            code = next == 't' ? Contract.VALUE_TRUE : next == 'f' ? Contract.VALUE_FALSE : Contract.VALUE_NULL;
        } else {
            double value = json.number();
            if (Double.isNaN(value) || Double.isInfinite(value)) {
                return false;  // a list, an object, or a number Python reads otherwise
            }
            values.add(Double.doubleToRawLongBits(value));
            return true;
        }
        codedValue.add(values.size);
        valueCode.add(code);
        values.add(Double.doubleToRawLongBits(Double.NaN));
        return true;
    }

    /**
     * Adds the event read since {@link #startEvent()}, if the contract takes it: a time the store
     * keeps and inputs; for a success, a latency Python reads exactly and an output per input row.
     * An error keeps no feature rows and no metrics: no prediction was made on its inputs.
     */
    private boolean endEvent(int index, int position) {
        if (eventTime < Contract.EARLIEST_TIME_MS || eventTime >= Contract.END_OF_TIME_MS || !eventInputs) {
            return false;  // no time (Long.MIN_VALUE) is before the earliest
        }
        int eventRows = rowLength.size - eventRowsStart;
        if (eventError) {
            rowLength.size = eventRowsStart;
            values.size = eventValuesStart;
            codedValue.size = eventCodedStart;
            valueCode.size = eventCodedStart;
            metricEvent.size = eventMetricsStart;
            metricName.size = eventMetricsStart;
            metricValue.size = eventMetricsStart;
            eventRows = 0;
        } else if (!(eventLatency >= 0 && eventLatency < Contract.EXACT_LATENCY_US) || eventOutputs != eventRows) {
            return false;  // NaN fails the first test: no latency
        }
        line.add(index);
        ordinal.add(position);
        timeMs.add(eventTime);
        microsec.add(Double.doubleToRawLongBits(eventLatency));
        isError.add(eventError ? 1 : 0);
        rows.add(eventRows);
        return true;
    }

    /**
     * Epoch ms of MLRun's {@code YYYY-MM-DD HH:MM:SS[.ffffff]+00:00} with a real date,
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
        if (month < 1 || month > 12 || day < 1
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
        List<byte[]> names = new ArrayList<>();
        int nameBytes = 0;
        for (String name : metricNameList) {
            nameBytes += addString(names, name);
        }
        List<byte[]> described = new ArrayList<>();
        int endpointBytes = 0;
        for (String[] endpointFields : endpointList) {
            int present = 0;
            for (int f = 0; f < ENDPOINT_FIELDS.length; f++) {
                present |= endpointFields[f] == null ? 0 : 1 << f;
            }
            described.add(intBytes(present));
            endpointBytes += 4;
            for (int f = 0; f < ENDPOINT_FIELDS.length; f++) {
                if (endpointFields[f] != null) {
                    endpointBytes += addString(described, endpointFields[f]);
                }
            }
            described.add(intBytes((endpointFields.length - ENDPOINT_FIELDS.length) / 2));
            endpointBytes += 4;
            for (int i = ENDPOINT_FIELDS.length; i < endpointFields.length; i++) {
                endpointBytes += addString(described, endpointFields[i]);
            }
        }
        List<byte[]> texts = new ArrayList<>();
        int textBytes = 0;
        for (String text : valueTextList) {
            textBytes += addString(texts, text);
        }
        byte[] path = file == null ? new byte[0] : file.getBytes(StandardCharsets.UTF_8);
        int events = line.size;
        int size = 56 + 8 * (2 * events + values.size + metricValue.size)
                + 4 * (6 * events + rowLength.size + 2 * metricEvent.size + 2 * lines + 2 * codedValue.size)
                + nameBytes + endpointBytes + textBytes + (file == null ? 0 : path.length + 16);
        ByteBuffer out = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        for (int header : new int[] {MAGIC, lines, events, rowLength.size, values.size, metricValue.size,
                metricNameList.size(), endpointList.size(), nameBytes, endpointBytes, path.length, codedValue.size,
                valueTextList.size(), textBytes}) {
            out.putInt(header);
        }
        for (Column column : new Column[] {timeMs, microsec, values, metricValue}) {
            out.asLongBuffer().put(column.data, 0, column.size);
            out.position(out.position() + 8 * column.size);
        }
        for (Column column : new Column[] {line, ordinal, endpoint, rows, isError, lineCrc, rowLength,
                metricEvent, metricName, lineStart, lineStop, codedValue, valueCode}) {
            for (int k = 0; k < column.size; k++) {
                out.putInt((int) column.data[k]);
            }
        }
        for (byte[] piece : names) {
            out.put(piece);
        }
        for (byte[] piece : described) {
            out.put(piece);
        }
        for (byte[] piece : texts) {
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
     * For tests and the benchmark: reads blocks from stdin (int32 length, then the bytes;
     * big-endian) and writes each block's columns to stdout the same way, until stdin ends;
     * with the argument {@code messages}, each one is read as a Kafka message.
     */
    public static void main(String[] args) throws IOException {
        boolean messages = args.length > 0 && args[0].equals("messages");
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
            byte[] columns = messages ? reader.readMessage(block) : reader.read(block, 0, length);
            out.writeInt(columns.length);
            out.write(columns);
            out.flush();
        }
    }
}

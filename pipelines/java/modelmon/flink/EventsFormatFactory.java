package modelmon.flink;

import java.util.Collections;
import java.util.List;
import java.util.Set;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DeserializationFormatFactory;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;

/**
 * {@code 'format' = 'modelmon-events'} (a Kafka table's {@code value.format}, or any connector
 * taking a deserialization format): a table {@code (payload BYTES, events BYTES)} whose rows are
 * messages, each beside its events read into columns by the same reader as the spool's blocks
 * ({@link BlockEvents#readMessage}), so every source's events are read once, in Java.
 */
public final class EventsFormatFactory implements DeserializationFormatFactory {

    public static final String IDENTIFIER = "modelmon-events";

    @Override
    public DecodingFormat<DeserializationSchema<RowData>> createDecodingFormat(DynamicTableFactory.Context context,
                                                                             ReadableConfig formatOptions) {
        return new DecodingFormat<DeserializationSchema<RowData>>() {
            @Override
            public DeserializationSchema<RowData> createRuntimeDecoder(DynamicTableSource.Context source,
                                                                       DataType physicalType) {
                List<DataType> columns = physicalType.getChildren();
                if (columns.size() != 2
                        || !columns.stream().allMatch(c -> c.getLogicalType().is(LogicalTypeRoot.VARBINARY))) {
                    throw new ValidationException(IDENTIFIER + " reads a table of two BYTES columns (payload, events), "
                            + "not " + physicalType);
                }
                return new EventsDeserializer(source.createTypeInformation(physicalType));
            }

            @Override
            public ChangelogMode getChangelogMode() {
                return ChangelogMode.insertOnly();
            }
        };
    }

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Collections.emptySet();
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return Collections.emptySet();
    }

    /** One message in, {@code (payload, events)} out; a message that is no event is Python's to dead-letter. */
    static final class EventsDeserializer implements DeserializationSchema<RowData> {
        private static final long serialVersionUID = 1L;

        private final TypeInformation<RowData> producedType;
        private transient BlockEvents reader;

        EventsDeserializer(TypeInformation<RowData> producedType) {
            this.producedType = producedType;
        }

        @Override
        public void open(InitializationContext context) {
            reader = new BlockEvents();
        }

        @Override
        public RowData deserialize(byte[] message) {
            if (reader == null) {  // a connector that does not open its format
                reader = new BlockEvents();
            }
            return GenericRowData.of(message, reader.readMessage(message));
        }

        @Override
        public boolean isEndOfStream(RowData nextElement) {
            return false;
        }

        @Override
        public TypeInformation<RowData> getProducedType() {
            return producedType;
        }
    }
}

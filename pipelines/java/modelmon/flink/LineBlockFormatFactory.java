package modelmon.flink;

import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.connector.file.src.FileSourceSplit;
import org.apache.flink.connector.file.src.reader.BulkFormat;
import org.apache.flink.connector.file.table.factories.BulkReaderFormatFactory;
import org.apache.flink.connector.file.table.format.BulkDecodingFormat;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;

/**
 * The filesystem connector's {@code 'format' = 'modelmon-line-blocks'}: a table of one BYTES
 * column whose rows are blocks of whole lines (see {@link LineBlockFormat}), or of two, the
 * second holding the block's plain events read into columns (see {@link BlockEvents}).
 */
public final class LineBlockFormatFactory implements BulkReaderFormatFactory {

    public static final String IDENTIFIER = "modelmon-line-blocks";

    public static final ConfigOption<Integer> MAX_LINES = ConfigOptions.key("max-lines").intType()
            .defaultValue(10_000).withDescription("Lines per block at most.");

    public static final ConfigOption<MemorySize> MAX_BYTES = ConfigOptions.key("max-bytes").memoryType()
            .defaultValue(MemorySize.parse("16mb"))
            .withDescription("A block ends after the line that reaches this size.");

    @Override
    public BulkDecodingFormat<RowData> createDecodingFormat(DynamicTableFactory.Context context,
                                                           ReadableConfig formatOptions) {
        FactoryUtil.validateFactoryOptions(this, formatOptions);
        int maxLines = formatOptions.get(MAX_LINES);
        long maxBytes = formatOptions.get(MAX_BYTES).getBytes();
        if (maxBytes > Integer.MAX_VALUE) {
            throw new ValidationException(IDENTIFIER + ".max-bytes must be under 2 GB");
        }
        return new BulkDecodingFormat<RowData>() {
            @Override
            public BulkFormat<RowData, FileSourceSplit> createRuntimeDecoder(DynamicTableSource.Context source,
                                                                           DataType physicalType) {
                List<DataType> columns = physicalType.getChildren();
                if (columns.isEmpty() || columns.size() > 2
                        || !columns.stream().allMatch(c -> c.getLogicalType().is(LogicalTypeRoot.VARBINARY))) {
                    throw new ValidationException(IDENTIFIER + " reads a table of one or two BYTES columns, not "
                            + physicalType);
                }
                return new LineBlockFormat(maxLines, (int) maxBytes, columns.size() == 2,
                                           source.createTypeInformation(physicalType));
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
        Set<ConfigOption<?>> options = new HashSet<>();
        options.add(MAX_LINES);
        options.add(MAX_BYTES);
        return options;
    }
}

package modelmon.flink;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.java.typeutils.RowTypeInfo;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.streaming.api.functions.python.DataStreamPythonFunctionInfo;
import org.apache.flink.streaming.api.operators.python.process.AbstractExternalDataStreamPythonFunctionOperator;
import org.apache.flink.streaming.api.operators.python.process.ExternalPythonKeyedProcessOperator;

/**
 * PyFlink's operator for a Python {@code KeyedProcessFunction}, whose checkpoints hold every
 * timer the function registered before the barrier.
 *
 * <p>Why: a Python function's timers reach Java as "timer registration" mails, run after the
 * mail that is handling the current input. Before a checkpoint, PyFlink ends the bundle in
 * flight ({@code prepareSnapshotPreBarrier}) and takes the snapshot in the same mail, so the
 * timers that bundle registered run only after the snapshot: the state the function wrote is
 * in the checkpoint, the timers that would act on it are not. Restored from it, a key with no
 * further input never fires (seen in Flink 2.2.1: a bounded run's store writer never wrote the
 * sampled rows it held). Flink drains those registrations before advancing a watermark; this
 * operator also drains them after the bundle a checkpoint ends, before the snapshot.
 */
public class TimersInCheckpointKeyedProcessOperator<OUT> extends ExternalPythonKeyedProcessOperator<OUT> {

    private static final long serialVersionUID = 1L;

    private final TypeSerializer namespaceSerializer;

    public TimersInCheckpointKeyedProcessOperator(Configuration config, DataStreamPythonFunctionInfo function,
                                                 RowTypeInfo inputType, TypeInformation<OUT> outputType) {
        this(config, function, inputType, outputType, VoidNamespaceSerializer.INSTANCE);
    }

    public TimersInCheckpointKeyedProcessOperator(Configuration config, DataStreamPythonFunctionInfo function,
                                                 RowTypeInfo inputType, TypeInformation<OUT> outputType,
                                                 TypeSerializer namespaceSerializer) {
        super(config, function, inputType, outputType, namespaceSerializer);
        this.namespaceSerializer = namespaceSerializer;
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        super.prepareSnapshotPreBarrier(checkpointId);
        drainUnregisteredTimers();
    }

    /** PyFlink copies an operator when it chains Python functions: the copy keeps the fix. */
    @Override
    @SuppressWarnings("unchecked")
    public <T> AbstractExternalDataStreamPythonFunctionOperator<T> copy(DataStreamPythonFunctionInfo function,
                                                                      TypeInformation<T> outputType) {
        return new TimersInCheckpointKeyedProcessOperator<>(
                config, function, (RowTypeInfo) getInputTypeInfo(), outputType, namespaceSerializer);
    }
}

package lamina.bridge;

import com.amazonaws.services.lambda.runtime.LambdaLogger;
import com.amazonaws.services.lambda.runtime.logging.LogLevel;
import java.nio.charset.StandardCharsets;
import java.util.function.BiConsumer;

/**
 * The function's LambdaLogger (see ContextImpl for how it is loaded). Records go to the
 * runtime's sink as (message, level name). The LogLevel overloads exist since
 * aws-lambda-java-core 1.2.3; the level is only ever handled as an Object, so this class
 * still links against older releases that lack the LogLevel type.
 */
public final class LoggerImpl implements LambdaLogger {
    private final BiConsumer<String, String> sink;

    public LoggerImpl(BiConsumer<String, String> sink) {
        this.sink = sink;
    }

    @Override
    public void log(String message) {
        sink.accept(String.valueOf(message), "UNDEFINED");
    }

    @Override
    public void log(byte[] message) {
        sink.accept(new String(message, StandardCharsets.UTF_8), "UNDEFINED");
    }

    @Override
    public void log(String message, LogLevel level) {
        Object name = level;
        sink.accept(String.valueOf(message), name == null ? "UNDEFINED" : name.toString());
    }

    @Override
    public void log(byte[] message, LogLevel level) {
        Object name = level;
        sink.accept(new String(message, StandardCharsets.UTF_8), name == null ? "UNDEFINED" : name.toString());
    }
}

using System;
using System.Reflection;
using System.Text;

[assembly: AssemblyTitle("Amazon.Lambda.Core")]
[assembly: AssemblyDescription("Lamina's implementation of the Amazon.Lambda.Core API for Mono")]
[assembly: AssemblyVersion("1.0.0.0")]

namespace Amazon.Lambda.Core
{
    /// <summary>
    /// Static logger usable outside the handler. The runtime replaces the private actions below by
    /// reflection (the field names are the contract, as in AWS's package); until then messages go
    /// to the console.
    /// </summary>
    public static class LambdaLogger
    {
        private static Action<string> _loggingAction = LogToConsole;
        private static Action<string, string, object[]> _loggingWithLevelAction = LogWithLevelToConsole;

        private static void LogToConsole(string message)
        {
            Console.WriteLine(message);
        }

        private static void LogWithLevelToConsole(string level, string message, object[] args)
        {
            var sb = new StringBuilder();
            sb.Append(level).Append(": ").Append(message);
            Console.WriteLine(sb.ToString());
        }

        /// <summary>Logs a message as one line.</summary>
        public static void Log(string message)
        {
            _loggingAction(message);
        }

        /// <summary>Logs a message at a level ("Information", "Error" ...).</summary>
        public static void Log(string level, string message, params object[] args)
        {
            _loggingWithLevelAction(level, message, args);
        }

        public static void Log(LogLevel level, string message, params object[] args)
        {
            Log(level.ToString(), message, args);
        }

        public static void Log(string level, Exception exception, string message, params object[] args)
        {
            _loggingWithLevelAction(level, message + (exception == null ? "" : "\n" + exception), args);
        }

        public static void Log(LogLevel level, Exception exception, string message, params object[] args)
        {
            Log(level.ToString(), exception, message, args);
        }
    }

    /// <summary>
    /// The level-aware logging methods that .NET 8's ILambdaLogger declares as default interface
    /// members, as extension methods (mcs cannot compile default interface members). If the
    /// runtime's logger has a matching public method it is used, so levels reach the log.
    /// </summary>
    public static class LambdaLoggerExtensions
    {
        public static void Log(this ILambdaLogger logger, string level, string message)
        {
            var withLevel = logger.GetType().GetMethod("LogWithLevel", new[] { typeof(string), typeof(string) });
            if (withLevel != null)
                withLevel.Invoke(logger, new object[] { level, message });
            else
                logger.LogLine(message);
        }

        public static void Log(this ILambdaLogger logger, LogLevel level, string message)
        {
            logger.Log(level.ToString(), message);
        }

        public static void LogTrace(this ILambdaLogger logger, string message) { logger.Log(LogLevel.Trace, message); }

        public static void LogDebug(this ILambdaLogger logger, string message) { logger.Log(LogLevel.Debug, message); }

        public static void LogInformation(this ILambdaLogger logger, string message) { logger.Log(LogLevel.Information, message); }

        public static void LogWarning(this ILambdaLogger logger, string message) { logger.Log(LogLevel.Warning, message); }

        public static void LogError(this ILambdaLogger logger, string message) { logger.Log(LogLevel.Error, message); }

        public static void LogCritical(this ILambdaLogger logger, string message) { logger.Log(LogLevel.Critical, message); }
    }

    /// <summary>
    /// Names the ILambdaSerializer that converts a handler's non-Stream input and output; placed
    /// on the assembly or on the handler method (which wins).
    /// </summary>
    [AttributeUsage(AttributeTargets.Method | AttributeTargets.Assembly, AllowMultiple = false)]
    public sealed class LambdaSerializerAttribute : Attribute
    {
        public Type SerializerType { get; set; }

        public LambdaSerializerAttribute(Type serializerType)
        {
            SerializerType = serializerType;
        }
    }
}

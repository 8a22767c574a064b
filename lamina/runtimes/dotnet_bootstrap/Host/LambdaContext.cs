// The ILambdaContext handed to handlers, its parts, and log formatting in the shape of AWS's
// .NET runtime: "<UTC timestamp>\t<request id>\t<level>\t<message>", with Console.Out lines at
// level "info" and Console.Error lines at "fail".
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;
using Amazon.Lambda.Core;
using Lamina.Json;

namespace Lamina.Runtime
{
    /// <summary>One event from GET /invocation/next.</summary>
    internal sealed class Invocation
    {
        public readonly string RequestId;
        public readonly long DeadlineMs;
        public readonly string FunctionArn;
        public readonly string TraceId;
        public readonly string ClientContextJson;
        public readonly string CognitoJson;
        public readonly byte[] Body;

        public Invocation(ApiResponse r)
        {
            RequestId = r.Header("Lambda-Runtime-Aws-Request-Id");
            long deadline;
            DeadlineMs = long.TryParse(r.Header("Lambda-Runtime-Deadline-Ms"), NumberStyles.Integer,
                CultureInfo.InvariantCulture, out deadline) ? deadline : long.MaxValue;
            FunctionArn = r.Header("Lambda-Runtime-Invoked-Function-Arn");
            TraceId = r.Header("Lambda-Runtime-Trace-Id");
            ClientContextJson = r.Header("Lambda-Runtime-Client-Context");
            CognitoJson = r.Header("Lambda-Runtime-Cognito-Identity");
            Body = r.Body;
        }
    }

    internal sealed class LambdaContext : ILambdaContext
    {
        private static readonly DateTime Epoch = new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        private readonly Invocation _inv;

        public LambdaContext(Invocation inv, ILambdaLogger logger)
        {
            _inv = inv;
            Logger = logger;
            Identity = string.IsNullOrEmpty(inv.CognitoJson) ? null : CognitoIdentity.FromJson(inv.CognitoJson);
            ClientContext = string.IsNullOrEmpty(inv.ClientContextJson) ? null : Runtime.ClientContext.FromJson(inv.ClientContextJson);
        }

        public string AwsRequestId { get { return _inv.RequestId; } }
        public IClientContext ClientContext { get; private set; }
        public string FunctionName { get { return Env("AWS_LAMBDA_FUNCTION_NAME"); } }
        public string FunctionVersion { get { return Env("AWS_LAMBDA_FUNCTION_VERSION"); } }
        public ICognitoIdentity Identity { get; private set; }
        public string InvokedFunctionArn { get { return _inv.FunctionArn; } }
        public ILambdaLogger Logger { get; private set; }
        public string LogGroupName { get { return Env("AWS_LAMBDA_LOG_GROUP_NAME"); } }
        public string LogStreamName { get { return Env("AWS_LAMBDA_LOG_STREAM_NAME"); } }
        public string TraceId { get { return _inv.TraceId; } }

        public int MemoryLimitInMB
        {
            get
            {
                int mb;
                return int.TryParse(Env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), out mb) ? mb : 128;
            }
        }

        public TimeSpan RemainingTime
        {
            get
            {
                double left = _inv.DeadlineMs - (DateTime.UtcNow - Epoch).TotalMilliseconds;
                return TimeSpan.FromMilliseconds(Math.Max(0, Math.Min(left, TimeSpan.MaxValue.TotalMilliseconds - 1)));
            }
        }

        private static string Env(string name)
        {
            return Environment.GetEnvironmentVariable(name);
        }

        internal static Dictionary<string, object> Object(string json)
        {
            try
            {
                return JsonReader.Parse(json) as Dictionary<string, object> ?? new Dictionary<string, object>();
            }
            catch (FormatException)
            {
                return new Dictionary<string, object>();
            }
        }

        internal static string Str(Dictionary<string, object> d, string key)
        {
            object v;
            return d != null && d.TryGetValue(key, out v) && v != null ? v.ToString() : null;
        }
    }

    internal sealed class CognitoIdentity : ICognitoIdentity
    {
        public string IdentityId { get; private set; }
        public string IdentityPoolId { get; private set; }

        public static CognitoIdentity FromJson(string json)
        {
            var d = LambdaContext.Object(json);
            return new CognitoIdentity
            {
                IdentityId = LambdaContext.Str(d, "cognitoIdentityId"),
                IdentityPoolId = LambdaContext.Str(d, "cognitoIdentityPoolId"),
            };
        }
    }

    internal sealed class ClientContext : IClientContext
    {
        public IDictionary<string, string> Environment { get; private set; }
        public IClientApplication Client { get; private set; }
        public IDictionary<string, string> Custom { get; private set; }

        public static ClientContext FromJson(string json)
        {
            var d = LambdaContext.Object(json);
            object client;
            d.TryGetValue("client", out client);
            return new ClientContext
            {
                Environment = Strings(d, "env"),
                Custom = Strings(d, "custom"),
                Client = ClientApplication.From(client as Dictionary<string, object>),
            };
        }

        private static IDictionary<string, string> Strings(Dictionary<string, object> d, string key)
        {
            object v;
            var src = d.TryGetValue(key, out v) ? v as Dictionary<string, object> : null;
            var outp = new Dictionary<string, string>();
            if (src != null)
            {
                foreach (var e in src)
                    outp[e.Key] = e.Value == null ? null : e.Value.ToString();
            }
            return outp;
        }
    }

    internal sealed class ClientApplication : IClientApplication
    {
        public string AppPackageName { get; private set; }
        public string AppTitle { get; private set; }
        public string AppVersionCode { get; private set; }
        public string AppVersionName { get; private set; }
        public string InstallationId { get; private set; }

        public static ClientApplication From(Dictionary<string, object> c)
        {
            return new ClientApplication
            {
                AppPackageName = LambdaContext.Str(c, "app_package_name"),
                AppTitle = LambdaContext.Str(c, "app_title"),
                AppVersionCode = LambdaContext.Str(c, "app_version_code"),
                AppVersionName = LambdaContext.Str(c, "app_version_name"),
                InstallationId = LambdaContext.Str(c, "installation_id"),
            };
        }
    }

    /// <summary>Formats log records; the current request id is set by the host per invocation.</summary>
    internal sealed class LogFormatter
    {
        private readonly TextWriter _out;
        private readonly object _gate = new object();
        public volatile string RequestId = "";

        public LogFormatter(TextWriter realStdout)
        {
            _out = realStdout;
        }

        public void WriteLine(string level, string message)
        {
            var line = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)
                + "\t" + RequestId + "\t" + level + "\t" + message + "\n";
            lock (_gate)
            {
                _out.Write(line);
                _out.Flush();
            }
        }

        public static string Label(string level)
        {
            switch (level)
            {
                case "Trace": return "trce";
                case "Debug": return "dbug";
                case "Information": return "info";
                case "Warning": return "warn";
                case "Error": return "fail";
                case "Critical": return "crit";
                default: return level;
            }
        }
    }

    /// <summary>Console.Out / Console.Error replacement: each complete line becomes one log record.</summary>
    internal sealed class LineWriter : TextWriter
    {
        private readonly LogFormatter _log;
        private readonly string _level;
        private readonly StringBuilder _pending = new StringBuilder();

        public LineWriter(LogFormatter log, string level)
        {
            _log = log;
            _level = level;
        }

        public override Encoding Encoding { get { return Encoding.UTF8; } }

        public override void Write(char value)
        {
            lock (_pending)
            {
                if (value == '\n')
                    Emit();
                else if (value != '\r')
                    _pending.Append(value);
            }
        }

        public override void Write(string value)
        {
            if (value == null)
                return;
            lock (_pending)
            {
                foreach (char c in value)
                    Write(c);
            }
        }

        public override void WriteLine(string value)
        {
            lock (_pending)
            {
                Write(value);
                Emit();
            }
        }

        public override void Flush()
        {
            lock (_pending)
            {
                if (_pending.Length > 0)
                    Emit();
            }
        }

        private void Emit()
        {
            _log.WriteLine(_level, _pending.ToString());
            _pending.Clear();
        }
    }

    /// <summary>context.Logger: Log writes raw text to the console, LogLine writes one record.</summary>
    internal sealed class ConsoleLogger : ILambdaLogger
    {
        private readonly LogFormatter _log;

        public ConsoleLogger(LogFormatter log)
        {
            _log = log;
        }

        public void Log(string message)
        {
            Console.Write(message);
        }

        public void LogLine(string message)
        {
            _log.WriteLine("info", message);
        }

        /// <summary>Found by LambdaLoggerExtensions: LogInformation & co. keep their level.</summary>
        public void LogWithLevel(string level, string message)
        {
            _log.WriteLine(LogFormatter.Label(level), message);
        }
    }
}

// Lamina's .NET runtime host (runs on Mono): loads the handler from $LAMBDA_TASK_ROOT
// (default /var/task) and serves the Runtime API loop.
// Usage: mono LaminaHost.exe [Assembly::Namespace.Type::Method]   (default: $_HANDLER)
// Exit codes: 1 after reporting an init error or when the Runtime API goes away; 2 on bad usage.
using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using Amazon.Lambda.Core;
using Lamina.Json;

namespace Lamina.Runtime
{
    internal static class Program
    {
        private static int Main(string[] args)
        {
            string handler = args.Length > 0 ? args[0] : Environment.GetEnvironmentVariable("_HANDLER");
            string api = Environment.GetEnvironmentVariable("AWS_LAMBDA_RUNTIME_API");
            if (string.IsNullOrEmpty(api))
            {
                Console.Error.WriteLine("lamina dotnet runtime: AWS_LAMBDA_RUNTIME_API is required");
                return 2;
            }
            string taskRoot = Environment.GetEnvironmentVariable("LAMBDA_TASK_ROOT");
            if (string.IsNullOrEmpty(taskRoot))
                taskRoot = "/var/task";

            var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false));
            var log = new LogFormatter(stdout);
            Console.SetOut(new LineWriter(log, "info"));
            Console.SetError(new LineWriter(log, "fail"));
            var logger = new ConsoleLogger(log);
            HookStaticLogger(log);
            ResolveFrom(taskRoot);

            var client = new RuntimeApiClient(api);
            HandlerCall call;
            try
            {
                call = UserCode.Load(handler, taskRoot);
            }
            catch (Exception e)
            {
                var error = Unwrap(e);
                log.WriteLine("fail", error.ToString());
                // As AWS's runtime: the init error carries no Lambda-Runtime-Function-Error-Type.
                client.InitError(null, ErrorJson.Bytes(error));
                return 1;
            }

            while (true)
            {
                Invocation inv;
                try
                {
                    inv = new Invocation(client.Next());
                }
                catch (Exception e)
                {
                    stdout.Write("lamina dotnet runtime: Runtime API failed: " + e.Message + "\n");
                    stdout.Flush();
                    return 1;
                }
                log.RequestId = inv.RequestId;
                Environment.SetEnvironmentVariable("_X_AMZN_TRACE_ID", inv.TraceId);
                var context = new LambdaContext(inv, logger);
                try
                {
                    var result = call(inv, context);
                    FlushConsole();
                    client.Respond(inv.RequestId, result);
                }
                catch (Exception e)
                {
                    var error = Unwrap(e);
                    FlushConsole();
                    log.WriteLine("fail", error.ToString());
                    client.Error(inv.RequestId, error.GetType().Name, ErrorJson.Bytes(error));
                }
            }
        }

        private static Exception Unwrap(Exception e)
        {
            while (e is TargetInvocationException && e.InnerException != null)
                e = e.InnerException;
            return e;
        }

        /// <summary>Log lines must reach the platform before the result does (they precede END).</summary>
        private static void FlushConsole()
        {
            Console.Out.Flush();
            Console.Error.Flush();
        }

        /// <summary>
        /// The function's references resolve to its own folder, except Amazon.Lambda.Core, which is
        /// always ours: the context we pass must implement the very ILambdaContext the code expects.
        /// </summary>
        private static void ResolveFrom(string taskRoot)
        {
            var core = typeof(ILambdaContext).Assembly;
            AppDomain.CurrentDomain.AssemblyResolve += (sender, e) =>
            {
                var name = new AssemblyName(e.Name).Name;
                if (name == core.GetName().Name)
                    return core;
                var path = Path.Combine(taskRoot, name + ".dll");
                return File.Exists(path) ? Assembly.LoadFrom(path) : null;
            };
        }

        /// <summary>Points Amazon.Lambda.Core's static LambdaLogger at our log, as AWS's runtime does.</summary>
        private static void HookStaticLogger(LogFormatter log)
        {
            const BindingFlags flags = BindingFlags.NonPublic | BindingFlags.Static;
            var t = typeof(LambdaLogger);
            Action<string> plain = message => log.WriteLine("info", message);
            Action<string, string, object[]> leveled = (level, message, args) =>
                log.WriteLine(LogFormatter.Label(level), Fill(message, args));
            t.GetField("_loggingAction", flags).SetValue(null, plain);
            t.GetField("_loggingWithLevelAction", flags).SetValue(null, leveled);
        }

        /// <summary>Message templates: "{name}" placeholders take the arguments in order.</summary>
        private static string Fill(string template, object[] args)
        {
            if (args == null || args.Length == 0 || template == null)
                return template;
            int next = 0;
            return Regex.Replace(template, @"\{[^{}]+\}", m => next < args.Length ? Convert.ToString(args[next++]) : m.Value);
        }
    }

    /// <summary>Exceptions as AWS's .NET runtime reports them: type short name, message, frames, causes.</summary>
    internal static class ErrorJson
    {
        public static byte[] Bytes(Exception e)
        {
            return new UTF8Encoding(false).GetBytes(JsonWriter.Write(Tree(e, 0)));
        }

        private static Dictionary<string, object> Tree(Exception e, int depth)
        {
            var d = new Dictionary<string, object>();
            d["errorType"] = e.GetType().Name;
            d["errorMessage"] = e.Message;
            var frames = Frames(e.StackTrace);
            if (frames.Count > 0)
                d["stackTrace"] = frames;
            if (depth < 8 && e.InnerException != null)
                d["cause"] = Tree(e.InnerException, depth + 1);
            var aggregate = e as AggregateException;
            if (depth < 8 && aggregate != null && aggregate.InnerExceptions.Count > 0)
            {
                var causes = new List<object>();
                foreach (var inner in aggregate.InnerExceptions)
                    causes.Add(Tree(inner, depth + 1));
                d["causes"] = causes;
            }
            return d;
        }

        /// <summary>Trimmed lines of the trace, without this host's and reflection's frames.</summary>
        private static List<object> Frames(string trace)
        {
            var outp = new List<object>();
            if (string.IsNullOrEmpty(trace))
                return outp;
            foreach (var raw in trace.Split('\n'))
            {
                var line = raw.Trim();
                if (line.Length == 0 || line.Contains(" Lamina.Runtime.") || line.Contains(" System.Reflection.")
                    || line.Contains(" System.Runtime.CompilerServices.") || line.Contains(" System.Runtime.ExceptionServices.")
                    || line.StartsWith("--- End of", StringComparison.Ordinal))
                    continue;
                outp.Add(line);
            }
            return outp;
        }
    }
}

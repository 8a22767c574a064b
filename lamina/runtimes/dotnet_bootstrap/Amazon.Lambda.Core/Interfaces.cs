// Lamina's own Amazon.Lambda.Core: the public surface of AWS's NuGet package of the same name
// (same namespace, type and member names), written for Mono, where NuGet is out of reach.
// The C# 8 default interface members that the real package adds for .NET 8 (ILambdaLogger's
// LogInformation & co., ILambdaContext.TenantId/TraceId/Serializer) cannot be compiled by mcs:
// the logger's are provided as extension methods in LambdaLoggerExtensions instead, so the
// same source code compiles; see docs/compatibility.md.
using System;
using System.Collections.Generic;
using System.IO;

namespace Amazon.Lambda.Core
{
    /// <summary>Information about the current invocation and the execution environment.</summary>
    public interface ILambdaContext
    {
        string AwsRequestId { get; }

        IClientContext ClientContext { get; }

        string FunctionName { get; }

        string FunctionVersion { get; }

        ICognitoIdentity Identity { get; }

        string InvokedFunctionArn { get; }

        ILambdaLogger Logger { get; }

        string LogGroupName { get; }

        string LogStreamName { get; }

        int MemoryLimitInMB { get; }

        /// <summary>Time left before the invocation times out.</summary>
        TimeSpan RemainingTime { get; }
    }

    /// <summary>Writes log records for the current invocation.</summary>
    public interface ILambdaLogger
    {
        /// <summary>Writes the message as is.</summary>
        void Log(string message);

        /// <summary>Writes the message as one log line.</summary>
        void LogLine(string message);
    }

    /// <summary>Converts the invocation payload to and from the handler's types.</summary>
    public interface ILambdaSerializer
    {
        T Deserialize<T>(Stream requestStream);

        void Serialize<T>(T response, Stream responseStream);
    }

    /// <summary>The Amazon Cognito identity that invoked the function, if any.</summary>
    public interface ICognitoIdentity
    {
        string IdentityId { get; }

        string IdentityPoolId { get; }
    }

    /// <summary>Client context sent by the AWS Mobile SDK.</summary>
    public interface IClientContext
    {
        IDictionary<string, string> Environment { get; }

        IClientApplication Client { get; }

        IDictionary<string, string> Custom { get; }
    }

    /// <summary>The mobile application that invoked the function.</summary>
    public interface IClientApplication
    {
        string AppPackageName { get; }

        string AppTitle { get; }

        string AppVersionCode { get; }

        string AppVersionName { get; }

        string InstallationId { get; }
    }

    /// <summary>Log levels of the .NET 8 logging surface.</summary>
    public enum LogLevel
    {
        Trace = 0,
        Debug = 1,
        Information = 2,
        Warning = 3,
        Error = 4,
        Critical = 5
    }
}

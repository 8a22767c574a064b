// Resolves "Assembly::Namespace.Type::Method" and builds the call, with the rules and messages of
// AWS's .NET runtime (Amazon.Lambda.RuntimeSupport's UserCodeLoader): at most two parameters, the
// second an ILambdaContext; Stream in/out needs nothing, any other type needs a
// [LambdaSerializer]; Task and Task<T> are awaited. Problems are LambdaValidationExceptions,
// thrown while loading, so they become the init error.
using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;
using Amazon.Lambda.Core;

namespace Lamina.Runtime
{
    /// <summary>A handler that cannot be loaded; reported with errorType "LambdaValidationException".</summary>
    internal sealed class LambdaValidationException : Exception
    {
        public LambdaValidationException(string message) : base(message) { }

        public LambdaValidationException(string message, Exception inner) : base(message, inner) { }
    }

    internal delegate byte[] HandlerCall(Invocation invocation, ILambdaContext context);

    internal static class UserCode
    {
        private const string Format = "The valid format is 'ASSEMBLY::TYPE::METHOD'.";

        public static HandlerCall Load(string handler, string taskRoot)
        {
            if (string.IsNullOrWhiteSpace(handler))
                throw new LambdaValidationException("Empty lambda function handler. " + Format);
            var parts = handler.Split(new[] { "::" }, StringSplitOptions.None);
            if (parts.Length != 3)
                throw new LambdaValidationException("Invalid lambda function handler: '" + handler + "'. " + Format);
            string[] what = { "assembly", "type", "method" };
            for (int k = 0; k < 3; k++)
            {
                if (parts[k].Trim().Length == 0)
                    throw new LambdaValidationException("Invalid lambda function handler: '" + handler + "', the "
                        + what[k] + " is missing. " + Format);
            }
            string asmName = parts[0].Trim(), typeName = parts[1].Trim(), methodName = parts[2].Trim();

            var path = Path.Combine(taskRoot, asmName + ".dll");
            if (!File.Exists(path))
                throw new LambdaValidationException("Could not find the specified handler assembly with the file name '"
                    + asmName + "'. The assembly should be located in the root of your uploaded .zip file.");
            Assembly asm;
            try
            {
                asm = Assembly.LoadFrom(path);
            }
            catch (Exception e)
            {
                throw new LambdaValidationException("Unable to load assembly '" + asmName + "'.", e);
            }
            var type = asm.GetType(typeName, false);
            if (type == null)
                throw new LambdaValidationException("Unable to load type '" + typeName + "' from assembly '" + asmName + "'.");
            var method = FindMethod(type, methodName, asmName);
            var ps = method.GetParameters();
            if (ps.Length > 2)
                throw new LambdaValidationException("Method '" + methodName + "' of type '" + type.FullName
                    + "' is not supported: the method has more than 2 parameters.");
            if (ps.Length == 2 && ps[1].ParameterType != typeof(ILambdaContext))
                throw new LambdaValidationException("Method '" + methodName + "' of type '" + type.FullName
                    + "' is not supported: the method has 2 parameters, but the second parameter is not of type '"
                    + typeof(ILambdaContext).FullName + "'.");

            Type inputType = ps.Length > 0 && ps[0].ParameterType != typeof(ILambdaContext) ? ps[0].ParameterType : null;
            Type outputType = OutputType(method);
            ILambdaSerializer serializer = null;
            bool needsSerializer = (inputType != null && !typeof(Stream).IsAssignableFrom(inputType))
                || (outputType != null && !typeof(Stream).IsAssignableFrom(outputType));
            if (needsSerializer)
                serializer = Serializer(method, asm, inputType, outputType);

            object target = null;
            if (!method.IsStatic)
            {
                if (type.IsAbstract)
                    throw new LambdaValidationException("The instance method '" + methodName + "' cannot be used as a Lambda Handler because its type '"
                        + type.FullName + "' is abstract. Please either use a static handler or specify a type that is not abstract.");
                target = Activator.CreateInstance(type); // constructor exceptions are the init error
            }
            var deserialize = inputType == null || serializer == null || typeof(Stream).IsAssignableFrom(inputType) ? null
                : typeof(ILambdaSerializer).GetMethod("Deserialize").MakeGenericMethod(inputType);
            var serialize = outputType == null || serializer == null || typeof(Stream).IsAssignableFrom(outputType) ? null
                : typeof(ILambdaSerializer).GetMethod("Serialize").MakeGenericMethod(outputType);
            var taskResult = method.ReturnType.IsGenericType && method.ReturnType.GetGenericTypeDefinition() == typeof(Task<>)
                ? method.ReturnType.GetProperty("Result") : null;

            return (inv, ctx) =>
            {
                var args = new object[ps.Length];
                for (int k = 0; k < ps.Length; k++)
                {
                    if (ps[k].ParameterType == typeof(ILambdaContext))
                        args[k] = ctx;
                    else if (deserialize == null)
                        args[k] = new MemoryStream(inv.Body, false);
                    else
                        args[k] = deserialize.Invoke(serializer, new object[] { new MemoryStream(inv.Body, false) });
                }
                object result = method.Invoke(target, args); // TargetInvocationException is unwrapped by the host
                var task = result as Task;
                if (task != null && typeof(Task).IsAssignableFrom(method.ReturnType))
                {
                    task.GetAwaiter().GetResult();
                    result = taskResult == null ? null : taskResult.GetValue(task, null);
                }
                if (outputType == null)
                    return new byte[0];
                if (serialize == null)
                {
                    var stream = result as Stream;
                    if (stream == null)
                        return new byte[0];
                    var copy = new MemoryStream();
                    stream.CopyTo(copy);
                    return copy.ToArray();
                }
                var buffer = new MemoryStream();
                serialize.Invoke(serializer, new[] { result, buffer });
                return buffer.ToArray();
            };
        }

        private static MethodInfo FindMethod(Type type, string name, string asmName)
        {
            var found = new List<MethodInfo>();
            foreach (var m in type.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static))
            {
                if (m.Name == name)
                    found.Add(m);
            }
            if (found.Count == 0)
                throw new LambdaValidationException("Unable to find method '" + name + "' in type '" + type.FullName
                    + "' from assembly '" + asmName + "': Found no methods matching method name '" + name + "'.");
            if (found.Count > 1)
            {
                var candidates = new List<string>();
                foreach (var m in found)
                    candidates.Add(m.ToString());
                throw new LambdaValidationException("The method '" + name + "' in type '" + type.FullName
                    + "' appears to have a number of overloads. To call this method please specify a complete method signature. Possible candidates are:\n"
                    + string.Join("\n", candidates) + ".");
            }
            var method = found[0];
            if (method.IsGenericMethodDefinition)
                throw new LambdaValidationException("The method '" + name + "' cannot be used as a Lambda Handler because it is a generic method. Handler methods cannot be generic. Please specify a non-generic handler method.");
            if (method.ReturnType == typeof(void) && method.GetCustomAttributes(typeof(AsyncStateMachineAttribute), false).Length > 0)
                throw new LambdaValidationException("The method '" + name + "' cannot be used as a Lambda Handler because it is an 'async void' method. Handler methods cannot be 'async void'. Please specify a method that is not 'async void'.");
            return method;
        }

        /// <summary>The type whose value is the response: null for void and Task, T for Task&lt;T&gt;.</summary>
        private static Type OutputType(MethodInfo method)
        {
            var r = method.ReturnType;
            if (r == typeof(void) || r == typeof(Task))
                return null;
            if (r.IsGenericType && r.GetGenericTypeDefinition() == typeof(Task<>))
                return r.GetGenericArguments()[0];
            return r;
        }

        private static ILambdaSerializer Serializer(MethodInfo method, Assembly asm, Type input, Type output)
        {
            var attr = (LambdaSerializerAttribute)Attribute.GetCustomAttribute(method, typeof(LambdaSerializerAttribute))
                ?? (LambdaSerializerAttribute)Attribute.GetCustomAttribute(asm, typeof(LambdaSerializerAttribute));
            if (attr == null)
            {
                bool forInput = input != null && !typeof(Stream).IsAssignableFrom(input);
                throw new LambdaValidationException(string.Format(
                    "Could not find the LambdaSerializerAttribute on the assembly '{0}' or method '{1}' while attempting to {2} data of type '{3}'. "
                    + "To use types other than System.IO.Stream as input/output parameters, the assembly or Lambda function should be annotated with {4}.",
                    asm.FullName, method.Name, forInput ? "deserialize input" : "serialize output",
                    forInput ? input.FullName : output.FullName, typeof(LambdaSerializerAttribute).FullName));
            }
            if (attr.SerializerType == null)
                throw new LambdaValidationException("The 'SerializerType' property on attribute class '" + typeof(LambdaSerializerAttribute).FullName + "' is not set.");
            if (!typeof(ILambdaSerializer).IsAssignableFrom(attr.SerializerType))
                throw new LambdaValidationException("The '" + attr.SerializerType.FullName + "' class is invalid: it does not implement the 'ILambdaSerializer' interface.");
            if (attr.SerializerType.GetConstructor(Type.EmptyTypes) == null)
                throw new LambdaValidationException("The indicated serializer '" + attr.SerializerType.FullName + "' does not define a public zero-parameter constructor.");
            return (ILambdaSerializer)Activator.CreateInstance(attr.SerializerType);
        }
    }
}

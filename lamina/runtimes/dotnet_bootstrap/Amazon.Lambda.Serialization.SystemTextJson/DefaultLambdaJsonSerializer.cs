// Lamina's stand-in for AWS's Amazon.Lambda.Serialization.SystemTextJson package: the same
// assembly, namespace and class names, so [assembly: LambdaSerializer(typeof(
// Amazon.Lambda.Serialization.SystemTextJson.DefaultLambdaJsonSerializer))] compiles and runs
// unchanged on Mono, which has no System.Text.Json. The constructors that take System.Text.Json
// option callbacks are absent; naming is customised by overriding ConvertName instead.
using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using System.Text;
using Amazon.Lambda.Core;
using Lamina.Json;

[assembly: AssemblyTitle("Amazon.Lambda.Serialization.SystemTextJson")]
[assembly: AssemblyDescription("Lamina's JSON serializer for Lambda handlers on Mono")]
[assembly: AssemblyVersion("1.0.0.0")]

namespace Amazon.Lambda.Serialization.SystemTextJson
{
    /// <summary>
    /// JSON (de)serialization of handler input and output: public properties, names as declared,
    /// case-insensitive matching on read, nulls omitted on write.
    /// </summary>
    public class DefaultLambdaJsonSerializer : ILambdaSerializer
    {
        private static readonly Dictionary<string, string> CustomNames = new Dictionary<string, string>
        {
            { "XAmzId2", "x-amz-id-2" },
            { "XAmzRequestId", "x-amz-request-id" },
        };

        private readonly PocoMapper _mapper;

        public DefaultLambdaJsonSerializer()
        {
            _mapper = new PocoMapper(Name);
        }

        private string Name(string property)
        {
            string mapped;
            return CustomNames.TryGetValue(property, out mapped) ? mapped : ConvertName(property);
        }

        /// <summary>The JSON name of a .NET property (AwsNamingPolicy: unchanged by default).</summary>
        protected virtual string ConvertName(string name)
        {
            return name;
        }

        public T Deserialize<T>(Stream requestStream)
        {
            try
            {
                string text;
                using (var reader = new StreamReader(requestStream, new UTF8Encoding(false)))
                    text = reader.ReadToEnd();
                return (T)_mapper.FromTree(JsonReader.Parse(text), typeof(T), 0);
            }
            catch (Exception e)
            {
                throw new JsonSerializerException("Error converting the Lambda event JSON payload to type "
                    + typeof(T).FullName + ": " + e.Message, e);
            }
        }

        public void Serialize<T>(T response, Stream responseStream)
        {
            try
            {
                var bytes = new UTF8Encoding(false).GetBytes(JsonWriter.Write(_mapper.ToTree(response, 0)));
                responseStream.Write(bytes, 0, bytes.Length);
            }
            catch (Exception e)
            {
                throw new JsonSerializerException("Error converting the response object of type "
                    + typeof(T).FullName + " from the Lambda function to JSON: " + e.Message, e);
            }
        }
    }

    /// <summary>As DefaultLambdaJsonSerializer, with camelCase property names.</summary>
    public class CamelCaseLambdaJsonSerializer : DefaultLambdaJsonSerializer
    {
        /// <summary>System.Text.Json's camel-casing: "OrderId" → "orderId", "URLValue" → "urlValue".</summary>
        protected override string ConvertName(string name)
        {
            if (string.IsNullOrEmpty(name) || !char.IsUpper(name[0]))
                return name;
            var chars = name.ToCharArray();
            for (int i = 0; i < chars.Length; i++)
            {
                if (i == 1 && !char.IsUpper(chars[i]))
                    break;
                bool hasNext = i + 1 < chars.Length;
                if (i > 0 && hasNext && !char.IsUpper(chars[i + 1]))
                {
                    if (chars[i + 1] == ' ')
                        chars[i] = char.ToLowerInvariant(chars[i]);
                    break;
                }
                chars[i] = char.ToLowerInvariant(chars[i]);
            }
            return new string(chars);
        }
    }

    /// <summary>Thrown when the payload or the response cannot be converted.</summary>
    public class JsonSerializerException : Exception
    {
        public JsonSerializerException(string message) : base(message) { }

        public JsonSerializerException(string message, Exception exception) : base(message, exception) { }
    }
}

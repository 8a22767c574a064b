// Reflection-based mapping between JSON trees (Lamina.Json) and .NET objects, following the
// System.Text.Json conventions that AWS's DefaultLambdaJsonSerializer configures: public
// properties (not fields), case-insensitive property matching on read, null properties left out
// on write, enums as numbers, byte[]/MemoryStream as base64, ISO-8601 dates.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Reflection;
using Lamina.Json;

namespace Amazon.Lambda.Serialization.SystemTextJson
{
    internal sealed class PocoMapper
    {
        private const int MaxDepth = 64; // System.Text.Json's default
        private readonly Func<string, string> _naming;
        private readonly Dictionary<Type, PropertyInfo[]> _props = new Dictionary<Type, PropertyInfo[]>();

        public PocoMapper(Func<string, string> naming)
        {
            _naming = naming;
        }

        // ------------------------------------------------------------ JSON tree -> .NET

        public object FromTree(object node, Type type, int depth)
        {
            if (depth > MaxDepth)
                throw new InvalidOperationException("The JSON value is nested deeper than " + MaxDepth + " levels.");
            var underlying = Nullable.GetUnderlyingType(type);
            if (node == null)
                return type.IsValueType && underlying == null ? Activator.CreateInstance(type) : null;
            if (underlying != null)
                type = underlying;
            if (type == typeof(object))
                return Natural(node);
            if (type == typeof(string))
            {
                if (node is IDictionary || node is IList)
                    throw new InvalidOperationException("The JSON value could not be converted to System.String.");
                return node is bool ? ((bool)node ? "true" : "false") : node.ToString();
            }
            if (type.IsEnum)
            {
                var n = node as JsonNumber;
                return n != null ? Enum.ToObject(type, long.Parse(n.Text, CultureInfo.InvariantCulture))
                    : Enum.Parse(type, node.ToString(), true);
            }
            if (type.IsPrimitive || type == typeof(decimal))
                return Scalar(node, type);
            if (type == typeof(DateTime))
                return ParseDate(node).UtcDateTime;
            if (type == typeof(DateTimeOffset))
                return ParseDate(node);
            if (type == typeof(Guid))
                return Guid.Parse(node.ToString());
            if (type == typeof(TimeSpan))
                return TimeSpan.Parse(node.ToString(), CultureInfo.InvariantCulture);
            if (type == typeof(byte[]))
                return Convert.FromBase64String(node.ToString());
            if (type == typeof(MemoryStream) || type == typeof(Stream))
                return new MemoryStream(Convert.FromBase64String(node.ToString()));
            if (type.IsArray)
            {
                var items = AsList(node, type);
                var arr = Array.CreateInstance(type.GetElementType(), items.Count);
                for (int k = 0; k < items.Count; k++)
                    arr.SetValue(FromTree(items[k], type.GetElementType(), depth + 1), k);
                return arr;
            }
            var dictTypes = GenericArgs(type, typeof(IDictionary<,>)) ?? GenericArgs(type, typeof(IReadOnlyDictionary<,>));
            if (dictTypes != null)
            {
                var obj = node as IDictionary<string, object>;
                if (obj == null)
                    throw new InvalidOperationException("The JSON value could not be converted to " + type + ".");
                var concrete = type.IsInterface ? typeof(Dictionary<,>).MakeGenericType(dictTypes) : type;
                var d = (IDictionary)Activator.CreateInstance(concrete);
                foreach (var e in obj)
                    d[FromTree(new JsonNumberOrString(e.Key).Value, dictTypes[0], depth + 1)] = FromTree(e.Value, dictTypes[1], depth + 1);
                return d;
            }
            var elem = GenericArgs(type, typeof(IEnumerable<>));
            if (elem != null && type != typeof(string))
            {
                var concrete = type.IsInterface ? typeof(List<>).MakeGenericType(elem) : type;
                var list = Activator.CreateInstance(concrete);
                var add = concrete.GetMethod("Add", new[] { elem[0] });
                foreach (var item in AsList(node, type))
                    add.Invoke(list, new[] { FromTree(item, elem[0], depth + 1) });
                return list;
            }
            var fields = node as IDictionary<string, object>;
            if (fields == null)
                throw new InvalidOperationException("The JSON value could not be converted to " + type + ".");
            object poco;
            try
            {
                poco = Activator.CreateInstance(type, true);
            }
            catch (MissingMethodException)
            {
                throw new NotSupportedException("Deserialization of types without a parameterless constructor is not supported. Type '" + type + "'.");
            }
            foreach (var p in Properties(type))
            {
                if (!p.CanWrite || p.GetSetMethod() == null)
                    continue;
                object value;
                if (TryGet(fields, _naming(p.Name), out value) || TryGet(fields, p.Name, out value))
                    p.SetValue(poco, FromTree(value, p.PropertyType, depth + 1), null);
            }
            return poco;
        }

        /// <summary>Exact name first, then case-insensitive (PropertyNameCaseInsensitive = true).</summary>
        private static bool TryGet(IDictionary<string, object> fields, string name, out object value)
        {
            if (fields.TryGetValue(name, out value))
                return true;
            foreach (var e in fields)
            {
                if (string.Equals(e.Key, name, StringComparison.OrdinalIgnoreCase))
                {
                    value = e.Value;
                    return true;
                }
            }
            return false;
        }

        private static IList AsList(object node, Type type)
        {
            var list = node as IList;
            if (list == null)
                throw new InvalidOperationException("The JSON value could not be converted to " + type + ".");
            return list;
        }

        private static Type[] GenericArgs(Type type, Type openInterface)
        {
            if (type.IsGenericType && type.GetGenericTypeDefinition() == openInterface)
                return type.GetGenericArguments();
            foreach (var i in type.GetInterfaces())
            {
                if (i.IsGenericType && i.GetGenericTypeDefinition() == openInterface)
                    return i.GetGenericArguments();
            }
            return null;
        }

        private static object Scalar(object node, Type type)
        {
            if (type == typeof(bool))
            {
                if (node is bool)
                    return node;
                throw new InvalidOperationException("The JSON value could not be converted to System.Boolean.");
            }
            if (type == typeof(char))
                return node.ToString()[0];
            if (node is IDictionary || node is IList || node is bool)
                throw new InvalidOperationException("The JSON value could not be converted to " + type + ".");
            string text = node.ToString();
            if (type == typeof(double))
                return double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
            if (type == typeof(float))
                return float.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
            decimal d = decimal.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
            if (type != typeof(decimal) && d != decimal.Truncate(d))
                throw new InvalidOperationException("The JSON value could not be converted to " + type + ".");
            return Convert.ChangeType(d, type, CultureInfo.InvariantCulture); // OverflowException when out of range
        }

        private static DateTimeOffset ParseDate(object node)
        {
            var n = node as JsonNumber;
            if (n != null) // epoch: milliseconds when it is that large, else seconds
            {
                double v = double.Parse(n.Text, NumberStyles.Float, CultureInfo.InvariantCulture);
                return new DateTimeOffset(1970, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMilliseconds(v > 1e11 ? v : v * 1000);
            }
            return DateTimeOffset.Parse(node.ToString(), CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
        }

        /// <summary>For object-typed targets: numbers become long/double, containers are converted deeply.</summary>
        private static object Natural(object node)
        {
            var n = node as JsonNumber;
            if (n != null)
                return n.ToNatural();
            var obj = node as Dictionary<string, object>;
            if (obj != null)
            {
                var d = new Dictionary<string, object>(obj.Count);
                foreach (var e in obj)
                    d[e.Key] = Natural(e.Value);
                return d;
            }
            var items = node as List<object>;
            if (items == null)
                return node;
            var copy = new List<object>(items.Count);
            foreach (var item in items)
                copy.Add(Natural(item));
            return copy;
        }

        /// <summary>Dictionary keys arrive as strings; numeric key types parse them.</summary>
        private struct JsonNumberOrString
        {
            public readonly object Value;

            public JsonNumberOrString(string key)
            {
                double ignored;
                Value = double.TryParse(key, NumberStyles.Float, CultureInfo.InvariantCulture, out ignored)
                    ? (object)new JsonNumber(key) : key;
            }
        }

        // ------------------------------------------------------------ .NET -> JSON tree

        public object ToTree(object v, int depth)
        {
            if (depth > MaxDepth)
                throw new InvalidOperationException("A possible object cycle was detected (depth > " + MaxDepth + ").");
            if (v == null || v is string || v is bool || v is decimal || v is JsonNumber)
                return v;
            var t = v.GetType();
            if (t.IsEnum)
                return Convert.ToInt64(v, CultureInfo.InvariantCulture);
            if (v is char || v is Guid)
                return v.ToString();
            if (t.IsPrimitive)
                return v;
            if (v is DateTime)
                return ((DateTime)v).ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", CultureInfo.InvariantCulture);
            if (v is DateTimeOffset)
                return ((DateTimeOffset)v).ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzzz", CultureInfo.InvariantCulture);
            if (v is TimeSpan)
                return ((TimeSpan)v).ToString("c", CultureInfo.InvariantCulture);
            if (v is byte[])
                return Convert.ToBase64String((byte[])v);
            if (v is MemoryStream)
                return Convert.ToBase64String(((MemoryStream)v).ToArray());
            if (v is IDictionary)
            {
                var d = new Dictionary<string, object>();
                foreach (DictionaryEntry e in (IDictionary)v)
                    d[Convert.ToString(e.Key, CultureInfo.InvariantCulture)] = ToTree(e.Value, depth + 1);
                return d;
            }
            if (v is IEnumerable)
            {
                var l = new List<object>();
                foreach (var o in (IEnumerable)v)
                    l.Add(ToTree(o, depth + 1));
                return l;
            }
            var obj = new Dictionary<string, object>();
            foreach (var p in Properties(t))
            {
                if (!p.CanRead || p.GetGetMethod() == null)
                    continue;
                var pv = p.GetValue(v, null);
                if (pv != null) // DefaultIgnoreCondition = WhenWritingNull
                    obj[_naming(p.Name)] = ToTree(pv, depth + 1);
            }
            return obj;
        }

        private PropertyInfo[] Properties(Type t)
        {
            PropertyInfo[] found;
            lock (_props)
            {
                if (!_props.TryGetValue(t, out found))
                {
                    var list = new List<PropertyInfo>();
                    foreach (var p in t.GetProperties(BindingFlags.Public | BindingFlags.Instance))
                    {
                        if (p.GetIndexParameters().Length == 0)
                            list.Add(p);
                    }
                    found = list.ToArray();
                    _props[t] = found;
                }
            }
            return found;
        }
    }
}

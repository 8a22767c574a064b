// Client for the Lambda Runtime API (2018-06-01) over one keep-alive HTTP/1.1 connection.
// Hand-written on a socket (see NativeSocket): HttpWebRequest/HttpClient load System.Net.Http,
// System.Configuration and System.Xml and cost tens of milliseconds of Mono start-up, and we only
// ever send four requests to one loopback server.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Net.Sockets;
using System.Text;

namespace Lamina.Runtime
{
    internal sealed class ApiResponse
    {
        public int Status;
        public Dictionary<string, string> Headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        public byte[] Body;

        public string Header(string name)
        {
            string v;
            return Headers.TryGetValue(name, out v) ? v : null;
        }
    }

    internal sealed class RuntimeApiClient
    {
        private const string Prefix = "/2018-06-01/runtime";
        private readonly string _host;
        private readonly int _port;
        private BufferedStream _stream;

        public RuntimeApiClient(string hostPort)
        {
            int colon = hostPort.LastIndexOf(':');
            _host = colon < 0 ? hostPort : hostPort.Substring(0, colon);
            _port = colon < 0 ? 80 : int.Parse(hostPort.Substring(colon + 1), CultureInfo.InvariantCulture);
        }

        /// <summary>Blocks until the next event; throws on anything but 200 (the host then exits).</summary>
        public ApiResponse Next()
        {
            var r = Request("GET", Prefix + "/invocation/next", null, null);
            if (r.Status != 200)
                throw new IOException("GET /invocation/next returned " + r.Status + ": " + Encoding.UTF8.GetString(r.Body));
            return r;
        }

        public int Respond(string requestId, byte[] body)
        {
            return Request("POST", Prefix + "/invocation/" + requestId + "/response", body, null).Status;
        }

        public int Error(string requestId, string errorType, byte[] errorJson)
        {
            return Request("POST", Prefix + "/invocation/" + requestId + "/error", errorJson, errorType).Status;
        }

        public int InitError(string errorType, byte[] errorJson)
        {
            return Request("POST", Prefix + "/init/error", errorJson, errorType).Status;
        }

        private ApiResponse Request(string method, string path, byte[] body, string errorType)
        {
            try
            {
                return Exchange(method, path, body, errorType);
            }
            catch (IOException)
            {
                Close(); // a stale keep-alive connection: one fresh attempt
                return Exchange(method, path, body, errorType);
            }
        }

        private ApiResponse Exchange(string method, string path, byte[] body, string errorType)
        {
            if (_stream == null)
                _stream = new BufferedStream(NativeSocket.TryConnect(_host, _port) ?? ConnectManaged(), 65536);
            var h = new StringBuilder(256);
            h.Append(method).Append(' ').Append(path).Append(" HTTP/1.1\r\nHost: ").Append(_host).Append(':')
                .Append(_port).Append("\r\nUser-Agent: lamina-dotnet\r\n");
            if (body != null)
                h.Append("Content-Type: application/json\r\nContent-Length: ").Append(body.Length).Append("\r\n");
            if (errorType != null)
                h.Append("Lambda-Runtime-Function-Error-Type: ").Append(errorType).Append("\r\n");
            h.Append("\r\n");
            var head = Encoding.UTF8.GetBytes(h.ToString());
            _stream.Write(head, 0, head.Length);
            if (body != null)
                _stream.Write(body, 0, body.Length);
            _stream.Flush();
            return ReadResponse();
        }

        /// <summary>
        /// For a host name rather than an IPv4 literal. A method of its own so that System.dll's
        /// socket stack is only loaded (and JIT-compiled) when it is really needed.
        /// </summary>
        private Stream ConnectManaged()
        {
            try
            {
                var client = new TcpClient(_host, _port) { NoDelay = true };
                return client.GetStream();
            }
            catch (SocketException e)
            {
                throw new IOException("cannot connect to the Runtime API at " + _host + ":" + _port, e);
            }
        }

        private ApiResponse ReadResponse()
        {
            string status = Line();
            if (!status.StartsWith("HTTP/1.", StringComparison.Ordinal))
                throw new IOException("bad status line: " + status);
            var r = new ApiResponse { Status = int.Parse(status.Substring(9, 3), CultureInfo.InvariantCulture) };
            for (string l = Line(); l.Length > 0; l = Line())
            {
                int c = l.IndexOf(':');
                if (c > 0)
                    r.Headers[l.Substring(0, c).Trim()] = l.Substring(c + 1).Trim();
            }
            string len = r.Header("Content-Length");
            if (len != null)
            {
                r.Body = ReadN(int.Parse(len, CultureInfo.InvariantCulture));
            }
            else if (string.Equals(r.Header("Transfer-Encoding"), "chunked", StringComparison.OrdinalIgnoreCase))
            {
                var all = new MemoryStream();
                for (int n = ChunkSize(); n > 0; n = ChunkSize())
                {
                    var chunk = ReadN(n);
                    all.Write(chunk, 0, n);
                    Line();
                }
                while (Line().Length > 0) { } // trailers
                r.Body = all.ToArray();
            }
            else
            {
                var all = new MemoryStream(); // no framing: the body runs to close
                _stream.CopyTo(all);
                r.Body = all.ToArray();
                Close();
            }
            if (string.Equals(r.Header("Connection"), "close", StringComparison.OrdinalIgnoreCase))
                Close();
            return r;
        }

        private int ChunkSize()
        {
            string l = Line();
            int semi = l.IndexOf(';');
            return int.Parse((semi < 0 ? l : l.Substring(0, semi)).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        }

        private byte[] ReadN(int n)
        {
            var b = new byte[n];
            int off = 0;
            while (off < n)
            {
                int got = _stream.Read(b, off, n - off);
                if (got <= 0)
                    throw new IOException("connection closed mid-body");
                off += got;
            }
            return b;
        }

        /// <summary>One header line, decoded as UTF-8 (client context JSON may hold non-ASCII text).</summary>
        private string Line()
        {
            var b = new MemoryStream(128);
            while (true)
            {
                int c = _stream.ReadByte();
                if (c < 0)
                    throw new IOException("connection closed");
                if (c == '\n')
                {
                    var bytes = b.ToArray();
                    int n = bytes.Length > 0 && bytes[bytes.Length - 1] == '\r' ? bytes.Length - 1 : bytes.Length;
                    return Encoding.UTF8.GetString(bytes, 0, n);
                }
                b.WriteByte((byte)c);
            }
        }

        private void Close()
        {
            if (_stream != null)
                _stream.Dispose();
            _stream = null;
        }
    }
}

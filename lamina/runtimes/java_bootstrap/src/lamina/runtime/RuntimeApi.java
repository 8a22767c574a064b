package lamina.runtime;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Client for the Lambda Runtime API (2018-06-01) over one keep-alive HTTP/1.1 connection.
 *
 * <p>Hand-written on a plain socket rather than HttpURLConnection or java.net.http: those load a
 * few hundred classes and cost tens of milliseconds of cold start, and we only ever speak four
 * requests to one loopback server. A connection the server closed is reopened once per request.
 */
final class RuntimeApi {
    private static final String PREFIX = "/2018-06-01/runtime";
    private static final String USER_AGENT = "lamina-java/" + System.getProperty("java.version");

    private final String host;
    private final int port;
    private Socket socket;
    private InputStream in;
    private OutputStream out;

    /** A response: status, lower-cased header names, body. */
    static final class Response {
        final int status;
        final Map<String, String> headers;
        final byte[] body;

        Response(int status, Map<String, String> headers, byte[] body) {
            this.status = status;
            this.headers = headers;
            this.body = body;
        }

        String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }
    }

    RuntimeApi(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        this.host = colon < 0 ? hostPort : hostPort.substring(0, colon);
        this.port = colon < 0 ? 80 : Integer.parseInt(hostPort.substring(colon + 1));
    }

    /** Blocks until the next event; throws on anything but 200 (the runtime should then exit). */
    Response next() throws IOException {
        Response r = request("GET", PREFIX + "/invocation/next", null, null);
        if (r.status != 200) {
            throw new IOException("GET /invocation/next returned " + r.status + ": "
                    + new String(r.body, StandardCharsets.UTF_8));
        }
        return r;
    }

    int respond(String requestId, byte[] body) throws IOException {
        return request("POST", PREFIX + "/invocation/" + requestId + "/response", body, null).status;
    }

    int error(String requestId, String errorTypeHeader, byte[] errorJson) throws IOException {
        return request("POST", PREFIX + "/invocation/" + requestId + "/error", errorJson, errorTypeHeader).status;
    }

    int initError(String errorTypeHeader, byte[] errorJson) throws IOException {
        return request("POST", PREFIX + "/init/error", errorJson, errorTypeHeader).status;
    }

    private Response request(String method, String path, byte[] body, String errorType) throws IOException {
        try {
            return exchange(method, path, body, errorType);
        } catch (IOException first) {
            close(); // stale keep-alive connection: one fresh attempt
            return exchange(method, path, body, errorType);
        }
    }

    private Response exchange(String method, String path, byte[] body, String errorType) throws IOException {
        if (socket == null) {
            socket = new Socket();
            socket.setTcpNoDelay(true);
            socket.connect(new InetSocketAddress(host, port));
            in = new BufferedInputStream(socket.getInputStream(), 65536);
            out = new BufferedOutputStream(socket.getOutputStream(), 65536);
        }
        StringBuilder h = new StringBuilder(256);
        h.append(method).append(' ').append(path).append(" HTTP/1.1\r\nHost: ").append(host).append(':')
                .append(port).append("\r\nUser-Agent: ").append(USER_AGENT).append("\r\n");
        if (body != null) {
            h.append("Content-Type: application/json\r\nContent-Length: ").append(body.length).append("\r\n");
        }
        if (errorType != null) {
            h.append("Lambda-Runtime-Function-Error-Type: ").append(errorType).append("\r\n");
        }
        h.append("\r\n");
        out.write(h.toString().getBytes(StandardCharsets.UTF_8));
        if (body != null) {
            out.write(body);
        }
        out.flush();
        return readResponse();
    }

    private Response readResponse() throws IOException {
        String status = line();
        if (!status.startsWith("HTTP/1.")) {
            throw new IOException("bad status line: " + status);
        }
        int code = Integer.parseInt(status.substring(9, 12));
        Map<String, String> headers = new LinkedHashMap<>();
        for (String l = line(); !l.isEmpty(); l = line()) {
            int c = l.indexOf(':');
            if (c > 0) {
                headers.put(l.substring(0, c).trim().toLowerCase(Locale.ROOT), l.substring(c + 1).trim());
            }
        }
        byte[] body;
        String len = headers.get("content-length");
        if (len != null) {
            body = readN(Integer.parseInt(len));
        } else if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            for (int n = chunkSize(); n > 0; n = chunkSize()) {
                b.write(readN(n));
                line();
            }
            while (!line().isEmpty()) {
                // trailers
            }
            body = b.toByteArray();
        } else {
            body = in.readAllBytes(); // no framing: body runs to close
            close();
        }
        if ("close".equalsIgnoreCase(headers.get("connection"))) {
            close();
        }
        return new Response(code, headers, body);
    }

    private int chunkSize() throws IOException {
        String l = line();
        int semi = l.indexOf(';');
        return Integer.parseInt((semi < 0 ? l : l.substring(0, semi)).trim(), 16);
    }

    private byte[] readN(int n) throws IOException {
        byte[] b = new byte[n];
        int off = 0;
        while (off < n) {
            int r = in.read(b, off, n - off);
            if (r < 0) {
                throw new EOFException("connection closed mid-body");
            }
            off += r;
        }
        return b;
    }

    /** One header line, decoded as UTF-8 (client context JSON may carry non-ASCII text). */
    private String line() throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream(128);
        while (true) {
            int c = in.read();
            if (c < 0) {
                throw new EOFException("connection closed");
            }
            if (c == '\n') {
                byte[] bytes = b.toByteArray();
                int n = bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
                return new String(bytes, 0, n, StandardCharsets.UTF_8);
            }
            b.write(c);
        }
    }

    private void close() {
        if (socket != null) {
            try {
                socket.close();
            } catch (IOException ignored) {
                // already gone
            }
        }
        socket = null;
        in = null;
        out = null;
    }
}

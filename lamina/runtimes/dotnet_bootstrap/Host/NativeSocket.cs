// A TCP connection made and used through libc directly, as a Stream.
//
// Why: on Mono, the first use of System.Net.Sockets reads the machine configuration
// (System.Configuration parsing machine.config with System.Xml) and probes network
// interfaces; that JIT and parsing work was over half of the host's cold-start CPU time. The
// Runtime API is always a literal IPv4 address on loopback, which needs none of it.
using System;
using System.IO;
using System.Runtime.InteropServices;

namespace Lamina.Runtime
{
    internal sealed unsafe class NativeSocket : Stream
    {
        private const int AfInet = 2, SockStream = 1, SockCloexec = 0x80000;
        private const int IpprotoTcp = 6, TcpNodelay = 1, Eintr = 4;
        private int _fd;

        [DllImport("libc.so.6", SetLastError = true)]
        private static extern int socket(int domain, int type, int protocol);

        [DllImport("libc.so.6", SetLastError = true)]
        private static extern int connect(int fd, byte[] address, int length);

        [DllImport("libc.so.6", SetLastError = true)]
        private static extern int setsockopt(int fd, int level, int name, ref int value, int length);

        [DllImport("libc.so.6", SetLastError = true)]
        private static extern IntPtr read(int fd, byte* buffer, IntPtr count);

        [DllImport("libc.so.6", SetLastError = true)]
        private static extern IntPtr write(int fd, byte* buffer, IntPtr count);

        [DllImport("libc.so.6")]
        private static extern int close(int fd);

        /// <summary>Connects to a dotted-quad IPv4 address; null if `host` is not one.</summary>
        public static NativeSocket TryConnect(string host, int port)
        {
            var parts = host.Split('.');
            byte[] ip = new byte[4];
            if (parts.Length != 4)
                return null;
            for (int k = 0; k < 4; k++)
            {
                if (!byte.TryParse(parts[k], out ip[k]))
                    return null;
            }
            int fd = socket(AfInet, SockStream | SockCloexec, 0);
            if (fd < 0)
                throw new IOException("socket() failed: errno " + Marshal.GetLastWin32Error());
            int one = 1;
            setsockopt(fd, IpprotoTcp, TcpNodelay, ref one, sizeof(int));
            // struct sockaddr_in: family (host order), port (network order), address, zero padding.
            var address = new byte[16];
            address[0] = AfInet;
            address[2] = (byte)(port >> 8);
            address[3] = (byte)port;
            Array.Copy(ip, 0, address, 4, 4);
            while (connect(fd, address, address.Length) != 0)
            {
                int errno = Marshal.GetLastWin32Error();
                if (errno != Eintr)
                {
                    close(fd);
                    throw new IOException("connect() to " + host + ":" + port + " failed: errno " + errno);
                }
            }
            return new NativeSocket { _fd = fd };
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (count == 0)
                return 0;
            fixed (byte* p = buffer)
            {
                while (true)
                {
                    long n = (long)read(_fd, p + offset, (IntPtr)count);
                    if (n >= 0)
                        return (int)n;
                    int errno = Marshal.GetLastWin32Error();
                    if (errno != Eintr)
                        throw new IOException("read() failed: errno " + errno);
                }
            }
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            fixed (byte* p = buffer)
            {
                while (count > 0)
                {
                    long n = (long)write(_fd, p + offset, (IntPtr)count);
                    if (n < 0)
                    {
                        int errno = Marshal.GetLastWin32Error();
                        if (errno == Eintr)
                            continue;
                        throw new IOException("write() failed: errno " + errno);
                    }
                    offset += (int)n;
                    count -= (int)n;
                }
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (_fd >= 0)
            {
                close(_fd);
                _fd = -1;
            }
            base.Dispose(disposing);
        }

        public override bool CanRead { get { return true; } }
        public override bool CanWrite { get { return true; } }
        public override bool CanSeek { get { return false; } }
        public override long Length { get { throw new NotSupportedException(); } }
        public override long Position { get { throw new NotSupportedException(); } set { throw new NotSupportedException(); } }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) { throw new NotSupportedException(); }
        public override void SetLength(long value) { throw new NotSupportedException(); }
    }
}

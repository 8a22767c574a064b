# frozen_string_literal: true

require 'socket'

module LaminaRuntime
  # The Runtime API (2018-06-01) over one keep-alive HTTP/1.1 connection.
  #
  # A small client on TCPSocket rather than Net::HTTP: requiring net/http costs
  # about 25 ms of every cold start, and the Runtime API needs only GET/POST
  # with Content-Length or chunked bodies. Any transport failure raises
  # ApiError; the runtime then exits, because an environment that cannot
  # reach its Runtime API is dead.
  class ApiClient
    class ApiError < StandardError; end

    Response = Struct.new(:status, :headers, :body)

    PREFIX = '/2018-06-01/runtime'
    USER_AGENT = "aws-lambda-ruby/#{RUBY_VERSION}-lamina".freeze

    def initialize(host_port)
      host, _, port = host_port.rpartition(':')
      @host = host
      @port = Integer(port)
      @socket = nil
    end

    # Blocks for the next event; returns [headers (lower-cased names), body].
    def next_invocation
      response = request('GET', "#{PREFIX}/invocation/next")
      unless response.status == 200
        raise ApiError, "Received #{response.status} when waiting for next invocation."
      end

      [response.headers, response.body]
    end

    def post_response(request_id, body, content_type)
      request('POST', "#{PREFIX}/invocation/#{request_id}/response", body, 'Content-Type' => content_type)
    end

    def post_error(request_id, reported)
      request('POST', "#{PREFIX}/invocation/#{request_id}/error", reported.to_lambda_response.to_json,
              'Content-Type' => 'application/json',
              'Lambda-Runtime-Function-Error-Type' => reported.header_type)
    end

    def post_init_error(reported)
      request('POST', "#{PREFIX}/init/error", reported.to_lambda_response.to_json,
              'Content-Type' => 'application/json',
              'Lambda-Runtime-Function-Error-Type' => reported.header_type)
    end

    private

    def request(method, path, body = nil, headers = {})
      head = +"#{method} #{path} HTTP/1.1\r\nHost: #{@host}:#{@port}\r\nUser-Agent: #{USER_AGENT}\r\n"
      headers.each { |name, value| head << "#{name}: #{value}\r\n" }
      body = body.to_s.b
      head << "Content-Length: #{body.bytesize}\r\n" if method == 'POST'
      payload = head.b << "\r\n" << body
      begin
        exchange(payload)
      rescue EOFError, Errno::EPIPE, Errno::ECONNRESET
        # The server may have closed the idle keep-alive connection: one fresh try.
        close
        exchange(payload)
      end
    rescue IOError, SystemCallError, ApiError => e
      close
      raise ApiError, "Runtime API request #{method} #{path} failed: #{e.class}: #{e.message}"
    end

    def exchange(payload)
      @socket ||= TCPSocket.new(@host, @port).tap { |s| s.setsockopt(:IPPROTO_TCP, :TCP_NODELAY, 1) }
      @socket.write(payload)
      read_response
    end

    def read_response
      status = read_line.split(' ', 3)[1].to_i
      headers = {}
      while (line = read_line) != ''
        name, value = line.split(':', 2)
        headers[name.strip.downcase] = value.to_s.strip
      end
      body = if headers['transfer-encoding']&.include?('chunked') then read_chunked
             elsif headers['content-length'] then read_exactly(headers['content-length'].to_i)
             else
               @socket.read.tap { close } # no length: the body runs to the end of the connection
             end
      close if headers['connection']&.casecmp?('close')
      Response.new(status, headers, body.force_encoding(Encoding::UTF_8))
    end

    def read_line
      line = @socket.gets("\r\n") or raise EOFError, 'connection closed by the Runtime API'
      line.chomp("\r\n")
    end

    def read_exactly(size)
      return +'' if size.zero?

      data = @socket.read(size)
      raise EOFError, 'short body from the Runtime API' if data.nil? || data.bytesize < size

      data
    end

    def read_chunked
      body = +''
      loop do
        size = read_line.split(';', 2).first.to_i(16)
        break if size.zero?

        body << read_exactly(size)
        read_line
      end
      loop { break if read_line.empty? } # skip trailers up to the empty line
      body
    end

    def close
      @socket&.close
    rescue IOError
      nil
    ensure
      @socket = nil
    end
  end
end

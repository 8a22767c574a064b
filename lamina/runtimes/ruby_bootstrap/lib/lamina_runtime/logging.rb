# frozen_string_literal: true

require 'logger'

module LaminaRuntime
  # The line layout AWS gives Logger output in Lambda:
  #   "I, [2024-05-01T12:00:00.123456 #8]  INFO 3f6a...-request-id -- : message"
  class LogFormatter < Logger::Formatter
    FORMAT = "%<sev>s, [%<datetime>s #%<process>d] %<severity>5s %<request_id>s -- %<progname>s: %<msg>s\n"

    def call(severity, time, progname, msg)
      format(FORMAT, sev: severity[0], datetime: time.strftime('%Y-%m-%dT%H:%M:%S.%6N'), process: $$,
                     severity: severity, request_id: $_global_aws_request_id, progname: progname,
                     msg: msg2str(msg)).encode('UTF-8')
    end
  end

  # Loggers created for $stdout, $stderr or nil get LogFormatter (unless given
  # a formatter) and write to the function log, as in AWS (where even
  # Logger.new(nil) logs); loggers writing to files or other IOs are left alone.
  module LoggerPatch
    def initialize(logdev, *args, **kwargs)
      if logdev.nil? || logdev == $stdout || logdev == $stderr
        logdev = $stdout
        kwargs[:formatter] ||= LogFormatter.new
      end
      super(logdev, *args, **kwargs)
    end
  end

  Logger.prepend(LoggerPatch)
end

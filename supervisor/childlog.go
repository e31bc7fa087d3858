package supervisor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
)

// maxLogLine bounds one logged line of etcd's output; longer lines are cut
// into pieces of this size.
const maxLogLine = 64 << 10

// logLines returns the write end of a pipe whose lines are logged through
// cfg.Lines, each with the stream's name. A line that is a JSON object
// (etcd's own log) is kept as JSON under "etcd"; other lines go under "line".
func (c *Child) logLines(stream string) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	c.output.Add(1)
	go func() {
		defer c.output.Done()
		defer r.Close()
		logStream(c.cfg.Lines, stream, r)
	}()
	return w, nil
}

func logStream(log *slog.Logger, stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			logLine(log, stream, bytes.TrimRight(line, "\r\n"))
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

func logLine(log *slog.Logger, stream string, line []byte) {
	if len(line) == 0 {
		return
	}
	attr := slog.String("line", string(line))
	if line[0] == '{' && json.Valid(line) {
		attr = slog.Any("etcd", json.RawMessage(bytes.Clone(line)))
	}
	log.LogAttrs(context.Background(), slog.LevelInfo, "etcd output", slog.String("stream", stream), attr)
}

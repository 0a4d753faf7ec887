// Package logging sets up tsunagi's structured logs: JSON lines from log/slog
// with timestamps in JST (ISO/IEC 27017 12.4.4).
package logging

import (
	"io"
	"log/slog"

	"github.com/tsunagi-net/tsunagi/internal/clock"
)

// New returns a JSON logger writing to w at the given level.
func New(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
				return slog.String(slog.TimeKey, a.Value.Time().In(clock.JST).Format("2006-01-02T15:04:05.000000-07:00"))
			}
			return a
		},
	}))
}

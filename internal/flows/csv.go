package flows

import (
	"encoding/csv"
	"io"
	"strconv"

	"github.com/tsunagi-net/tsunagi/internal/clock"
)

// CSVHeader names the columns of WriteCSV; times are JST (RFC 3339).
var CSVHeader = []string{"id", "hub_id", "start", "end", "protocol", "orig_src", "orig_src_port", "orig_dst", "orig_dst_port",
	"reply_src", "reply_src_port", "reply_dst", "reply_dst_port", "translated", "orig_bytes", "orig_packets", "reply_bytes", "reply_packets"}

// WriteCSV writes flows under CSVHeader.
func WriteCSV(w io.Writer, flows []Flow) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, f := range flows {
		i := strconv.Itoa
		n := func(v int64) string { return strconv.FormatInt(v, 10) }
		if err := cw.Write([]string{f.ID, f.HubID, clock.Show(f.Start), clock.Show(f.End), i(f.Protocol),
			f.OrigSrc, i(f.OrigSrcPort), f.OrigDst, i(f.OrigDstPort), f.ReplySrc, i(f.ReplySrcPort), f.ReplyDst, i(f.ReplyDstPort),
			f.Translated, n(f.OrigBytes), n(f.OrigPackets), n(f.ReplyBytes), n(f.ReplyPackets)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

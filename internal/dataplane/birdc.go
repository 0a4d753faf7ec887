package dataplane

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// BirdClient speaks BIRD's control socket protocol: a command per line, a
// reply of lines that each start with a four-digit code and '-' (more
// follows) or ' ' (last line), or a space (continuation of the previous
// code). 0xxx ends a successful command, 8xxx and 9xxx are errors. The agent's
// observe step uses it; so does the BIRD subsystem to reconfigure.
type BirdClient struct {
	Socket string
}

// BirdError is an error BIRD returned for a command.
type BirdError struct {
	Code int
	Text string
}

func (e *BirdError) Error() string { return fmt.Sprintf("bird: %04d %s", e.Code, e.Text) }

// ReplyLine is one line of a BIRD reply with its code (the previous line's
// code for a continuation line).
type ReplyLine struct {
	Code int
	Text string
}

// Command sends one command and returns the reply lines. A connection per
// command keeps the client safe for concurrent use; BIRD serves each.
func (c BirdClient) Command(ctx context.Context, cmd string) ([]ReplyLine, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Socket)
	if err != nil {
		return nil, fmt.Errorf("bird control socket: %w", err)
	}
	defer conn.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	_ = conn.SetDeadline(deadline)
	r := bufio.NewReader(conn)
	if _, err := readReply(r); err != nil { // the greeting, "0001 BIRD x ready."
		return nil, fmt.Errorf("bird greeting: %w", err)
	}
	if _, err := fmt.Fprintf(conn, "%s\n", cmd); err != nil {
		return nil, fmt.Errorf("bird %q: %w", cmd, err)
	}
	lines, err := readReply(r)
	if err != nil {
		return lines, fmt.Errorf("bird %q: %w", cmd, err)
	}
	return lines, nil
}

func readReply(r *bufio.Reader) ([]ReplyLine, error) {
	var lines []ReplyLine
	code := 0
	for {
		s, err := r.ReadString('\n')
		if err != nil {
			return lines, err
		}
		s = strings.TrimRight(s, "\n")
		if strings.HasPrefix(s, " ") || len(s) < 5 {
			lines = append(lines, ReplyLine{Code: code, Text: strings.TrimPrefix(s, " ")})
			continue
		}
		n, err := strconv.Atoi(s[:4])
		if err != nil {
			return lines, fmt.Errorf("malformed reply line %q", s)
		}
		code = n
		lines = append(lines, ReplyLine{Code: code, Text: s[5:]})
		if s[4] == ' ' {
			if code >= 8000 {
				return lines, &BirdError{Code: code, Text: s[5:]}
			}
			return lines, nil
		}
	}
}

// Configure makes BIRD re-read its configuration file. BIRD reconfigures
// in place: sessions whose configuration did not change are not reset.
func (c BirdClient) Configure(ctx context.Context) error {
	// A configuration BIRD rejects comes back as an 8xxx error; anything
	// else ("0003 Reconfigured", "0004 Reconfiguration in progress") is
	// BIRD having taken it.
	_, err := c.Command(ctx, "configure")
	return err
}

// ProtocolStatus is one line of "show protocols".
type ProtocolStatus struct {
	Name  string
	Proto string // BGP, Static, Kernel, Device, ...
	State string // up, down, start, ...
	Since time.Time
	Info  string // for BGP: Established, Active, Connect, ...
}

// Established says whether a BGP session is up.
func (p ProtocolStatus) Established() bool {
	return p.State == "up" && strings.HasPrefix(p.Info, "Established")
}

// Protocols lists BIRD's protocols. The configuration sets "timeformat
// protocol iso long", so Since is "YYYY-MM-DD hh:mm:ss" in BIRD's local
// time, which is UTC on a hub node whose agent runs with TZ unset.
func (c BirdClient) Protocols(ctx context.Context) ([]ProtocolStatus, error) {
	lines, err := c.Command(ctx, "show protocols")
	if err != nil {
		return nil, err
	}
	return parseProtocols(lines), nil
}

func parseProtocols(lines []ReplyLine) []ProtocolStatus {
	var out []ProtocolStatus
	for _, l := range lines {
		if l.Code != 1002 {
			continue
		}
		f := strings.Fields(l.Text)
		if len(f) < 6 {
			continue
		}
		p := ProtocolStatus{Name: f[0], Proto: f[1], State: f[3]}
		p.Since, _ = time.ParseInLocation("2006-01-02 15:04:05", f[4]+" "+f[5], time.Local)
		p.Info = strings.Join(f[6:], " ")
		out = append(out, p)
	}
	return out
}

// Routes lists every route of BIRD's table with the protocol that brought
// it (every route per network, not only the best).
func (c BirdClient) Routes(ctx context.Context) ([]Route, error) {
	lines, err := c.Command(ctx, "show route")
	if err != nil {
		return nil, err
	}
	return parseRoutes(lines), nil
}

// FilteredRoutes lists the routes a session received and its import filter
// refused (kept by "import keep filtered").
func (c BirdClient) FilteredRoutes(ctx context.Context, protocol string) ([]Route, error) {
	lines, err := c.Command(ctx, "show route filtered protocol "+protocol)
	if err != nil {
		return nil, err
	}
	return parseRoutes(lines), nil
}

// RoutesWithin lists the routes equal to or inside the given prefixes.
func (c BirdClient) RoutesWithin(ctx context.Context, within []netip.Prefix) ([]Route, error) {
	set := make([]string, len(within))
	for i, p := range within {
		set[i] = p.Masked().String() + "+"
	}
	lines, err := c.Command(ctx, "show route where net ~ [ "+strings.Join(set, ", ")+" ]")
	if err != nil {
		return nil, err
	}
	return parseRoutes(lines), nil
}

// parseRoutes reads "show route": a network line starts with the prefix;
// the further routes of the same network start with their type; "via"
// lines and the table heading are skipped.
func parseRoutes(lines []ReplyLine) []Route {
	var out []Route
	var cur netip.Prefix
	for _, l := range lines {
		if l.Code != 1007 {
			continue
		}
		text := strings.TrimSpace(l.Text)
		open := strings.IndexByte(text, '[')
		if open < 0 {
			continue
		}
		f := strings.Fields(text[:open])
		if len(f) == 2 {
			p, err := netip.ParsePrefix(f[0])
			if err != nil {
				continue
			}
			cur = p
		} else if len(f) != 1 || !cur.IsValid() {
			continue
		}
		rest := strings.Fields(text[open+1:])
		if len(rest) == 0 {
			continue
		}
		out = append(out, Route{Net: cur, Protocol: rest[0], Primary: strings.Contains(text, "] * ")})
	}
	return out
}

// RouteCounts are a session's route counts from "show protocols all".
type RouteCounts struct {
	Imported, Filtered, Exported, Preferred int
	// LimitHit is, for a session the import limit stopped ("Import limit:
	// 2000 [HIT]"), the count of imported prefixes BIRD reports it reached;
	// 0 while the limit is not hit. BIRD shows no route counts for a
	// stopped session, so this is the count it reports for the stop.
	LimitHit int
}

// Counts returns the route counts of one protocol.
func (c BirdClient) Counts(ctx context.Context, protocol string) (RouteCounts, error) {
	lines, err := c.Command(ctx, "show protocols all "+protocol)
	if err != nil {
		return RouteCounts{}, err
	}
	return parseCounts(lines)
}

// parseCounts reads the channel line "Routes: 1 imported, 2 filtered,
// 3 exported, 1 preferred" (filtered appears only when nonzero), and
// "Import limit: 2000 [HIT]" of a session the limit stopped.
func parseCounts(lines []ReplyLine) (RouteCounts, error) {
	var rc RouteCounts
	found := false
	for _, l := range lines {
		text := strings.TrimSpace(l.Text)
		if lim, ok := strings.CutPrefix(text, "Import limit:"); ok {
			if f := strings.Fields(lim); len(f) == 2 && f[1] == "[HIT]" {
				rc.LimitHit, _ = strconv.Atoi(f[0])
				found = true
			}
			continue
		}
		rest, ok := strings.CutPrefix(text, "Routes:")
		if !ok {
			continue
		}
		found = true
		for _, part := range strings.Split(rest, ",") {
			f := strings.Fields(part)
			if len(f) != 2 {
				continue
			}
			n, err := strconv.Atoi(f[0])
			if err != nil {
				continue
			}
			switch f[1] {
			case "imported":
				rc.Imported = n
			case "filtered":
				rc.Filtered = n
			case "exported":
				rc.Exported = n
			case "preferred":
				rc.Preferred = n
			}
		}
	}
	if !found {
		return RouteCounts{}, errors.New("bird: no route counts in reply")
	}
	return rc, nil
}

// Package clock holds tsunagi's notion of time: everything is stored in UTC and
// shown in Japan Standard Time (Asia/Tokyo), ISO/IEC 27017 12.4.4.
package clock

import (
	"time"
	_ "time/tzdata" // JST must resolve on hosts without a zoneinfo database.
)

// JST is Asia/Tokyo. It falls back to a fixed +09:00 zone, which is exact:
// Japan has kept no daylight saving time since 1951.
var JST = loadJST()

func loadJST() *time.Location {
	if loc, err := time.LoadLocation("Asia/Tokyo"); err == nil {
		return loc
	}
	return time.FixedZone("JST", 9*60*60)
}

// StoreLayout is how instants are written to the database: UTC, fixed width, so
// that text comparison orders them as time does on both SQLite and PostgreSQL.
const StoreLayout = "2006-01-02T15:04:05.000000Z"

// DateLayout is a calendar date (contract termination dates are JST dates).
const DateLayout = "2006-01-02"

// Now is the current instant with microsecond precision (the precision that
// survives a round trip through the store), in UTC: instants travel through
// the API and the documents between processes as RFC 3339 UTC, and are shown
// in JST only where people read them (Show).
func Now() time.Time { return time.Now().Truncate(time.Microsecond).UTC() }

// Store renders t for the database.
func Store(t time.Time) string { return t.UTC().Format(StoreLayout) }

// Parse reads an instant written by Store, in UTC like Now.
func Parse(s string) (time.Time, error) {
	t, err := time.Parse(StoreLayout, s)
	return t.UTC(), err
}

// Show renders t for people and logs: RFC 3339 in JST.
func Show(t time.Time) string { return t.In(JST).Format(time.RFC3339) }

// ReadLayout is how a person reads an instant: the JST minute, named.
const ReadLayout = "2006-01-02 15:04 JST"

// Read formats t for a person to read (pages, mail texts, feeds): the
// minute in JST, e.g. "2026-12-17 00:47 JST".
func Read(t time.Time) string { return t.In(JST).Format(ReadLayout) }

// Today is the current calendar date in JST.
func Today() string { return Date(time.Now()) }

// Date is the JST calendar date of t (YYYY-MM-DD): the day a dated job
// counts t in.
func Date(t time.Time) string { return t.In(JST).Format(DateLayout) }

// ParseDate reads a JST calendar date such as a contract termination date.
func ParseDate(s string) (time.Time, error) { return time.ParseInLocation(DateLayout, s, JST) }

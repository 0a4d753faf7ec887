// Package graph draws time-series charts as server-rendered SVG: the usage
// graphs of a port (bit/s in and out, average and peak) and the round-trip
// time and loss of a reachability monitor.
//
// A chart is plain markup — no script, no external resource — so the
// panel's content security policy stays strict and a page renders the same
// for a browser, a screen reader and a test. Every piece of text in it
// (labels, legend, title) is escaped here; callers pass plain strings.
//
// Output is deterministic: the same Chart gives the same bytes, so charts
// are checked against golden files (TSUNAGI_UPDATE_GOLDEN=1 rewrites them).
//
// Times on the axis are JST (clock.JST): hours for a window up to two days,
// dates for longer ones. A window holds at most one drawn point per pixel
// column: longer series are reduced to the width (averaged, or the maximum
// kept for a peak series, so a short burst never disappears from a 60-day
// view), which keeps a 60-day window of 5-minute points (17,280 per series)
// cheap to draw.
package graph

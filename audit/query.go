package audit

import (
	"fmt"
	"time"
)

// Filter selects records: each non-zero field must match.
type Filter struct {
	Tool, Server, Kind string
	// Since keeps records at or after it; Until those before it.
	Since, Until time.Time
}

// Match reports whether r passes every set field of f.
func (f Filter) Match(r Record) bool {
	return (f.Tool == "" || r.Tool == f.Tool) && (f.Server == "" || r.Server == f.Server) && (f.Kind == "" || r.Kind == f.Kind) &&
		(f.Since.IsZero() || !r.Time.Before(f.Since)) && (f.Until.IsZero() || r.Time.Before(f.Until))
}

// ParseWhen reads a time bound: RFC 3339, or a duration before now ("1h");
// empty is the zero time (no bound).
func ParseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-01-02T15:04:05Z) nor a duration (1h)", s)
}

// Last returns the last limit records of files (in file order) that f
// matches, and how many matched in all.
func Last(files []string, f Filter, limit int) ([]Record, int, error) {
	var out []Record
	n := 0
	err := ReadRecords(files, func(_ string, r Record) bool {
		if !f.Match(r) {
			return true
		}
		n++
		out = append(out, r)
		if len(out) > limit {
			out = out[1:]
		}
		return true
	})
	return out, n, err
}

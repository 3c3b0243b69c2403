package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
)

// writeTable prints the medians of every (target, client) pair with ratios
// to direct from the same client.
func writeTable(w io.Writer, o *options, targets []*target, all []result) {
	fmt.Fprintf(w, "%d runs; %d sequential and %d %d-way calls per run (TypeScript client: %d and %d); medians; ratios to direct with the same client; %d CPUs\n\n",
		o.runs, o.seq, o.conc, o.workers, o.tsCalls, o.tsCalls, runtime.NumCPU())
	fmt.Fprintln(w, "| target | client | start→initialize | tools/list cold / warm | seq calls/s | seq p50 (added) | seq p99 | 8-way calls/s | 8-way p50 | RSS idle → after | CPU/call |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, client := range []string{"go", "ts"} {
		direct := median(all, "direct", client)
		for _, t := range targets {
			m := median(all, t.name, client)
			if m == nil {
				continue
			}
			ratio := func(v, d float64) string {
				if direct == nil || d == 0 || t.name == "direct" {
					return ""
				}
				return fmt.Sprintf(" (%.2f×)", v/d)
			}
			added := ""
			if direct != nil && t.name != "direct" {
				added = fmt.Sprintf(" (+%.0f µs)", m.SeqP50us-direct.SeqP50us)
			}
			rss, cpu := "—", "—"
			if m.RSSAfterMB > 0 {
				rss = fmt.Sprintf("%.1f → %.1f MB", m.RSSIdleMB, m.RSSAfterMB)
				cpu = fmt.Sprintf("%.0f µs", m.CPUPerCall)
			}
			fmt.Fprintf(w, "| %s | %s | %.1f ms | %.2f / %.2f ms | %.0f%s | %.0f µs%s | %.0f µs | %.0f%s | %.0f µs | %s | %s |\n",
				t.name, client, m.InitMs, m.ListColdMs, m.ListWarmMs,
				m.SeqRate, ratio(m.SeqRate, direct.rate(false)), m.SeqP50us, added, m.SeqP99us,
				m.ConcRate, ratio(m.ConcRate, direct.rate(true)), m.ConcP50us, rss, cpu)
		}
	}
}

func (r *result) rate(conc bool) float64 {
	if r == nil {
		return 0
	}
	if conc {
		return r.ConcRate
	}
	return r.SeqRate
}

// median is the field-wise median of every run of target with client; nil
// if there is none.
func median(all []result, target, client string) *result {
	var rs []result
	for _, r := range all {
		if r.Target == target && r.Client == client {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return nil
	}
	med := func(f func(*result) float64) float64 {
		v := make([]float64, len(rs))
		for i := range rs {
			v[i] = f(&rs[i])
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return &result{
		Target: target, Client: client,
		InitMs:     med(func(r *result) float64 { return r.InitMs }),
		ListColdMs: med(func(r *result) float64 { return r.ListColdMs }),
		ListWarmMs: med(func(r *result) float64 { return r.ListWarmMs }),
		SeqP50us:   med(func(r *result) float64 { return r.SeqP50us }),
		SeqP99us:   med(func(r *result) float64 { return r.SeqP99us }),
		SeqRate:    med(func(r *result) float64 { return r.SeqRate }),
		ConcP50us:  med(func(r *result) float64 { return r.ConcP50us }),
		ConcP99us:  med(func(r *result) float64 { return r.ConcP99us }),
		ConcRate:   med(func(r *result) float64 { return r.ConcRate }),
		RSSIdleMB:  med(func(r *result) float64 { return r.RSSIdleMB }),
		RSSAfterMB: med(func(r *result) float64 { return r.RSSAfterMB }),
		CPUPerCall: med(func(r *result) float64 { return r.CPUPerCall }),
	}
}

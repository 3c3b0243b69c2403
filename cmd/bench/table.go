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
	var cluster []*target
	targets, cluster = splitCluster(targets)
	defer writeClusterTable(w, o, cluster, all)
	if len(targets) == 0 {
		return
	}
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
		return medianOf(v)
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

		CPUUpstream: med(func(r *result) float64 { return r.CPUUpstream }),
		CPUHAProxy:  med(func(r *result) float64 { return r.CPUHAProxy }),
		CPURedis:    med(func(r *result) float64 { return r.CPURedis }),
		CPUClient:   med(func(r *result) float64 { return r.CPUClient }),
	}
}

// splitCluster separates the cluster targets from the others.
func splitCluster(targets []*target) (others, cluster []*target) {
	for _, t := range targets {
		if t.cluster {
			cluster = append(cluster, t)
		} else {
			others = append(others, t)
		}
	}
	return others, cluster
}

// writeClusterTable prints the medians of the cluster targets with what
// each adds to http (one replica, no Redis), and the CPU per call of each
// process.
func writeClusterTable(w io.Writer, o *options, targets []*target, all []result) {
	if len(targets) == 0 {
		return
	}
	fmt.Fprintf(w, "\nCluster targets: %d runs; %d sequential and %d %d-way calls per run, go client, one 2025-11-25 session; medians; added = minus http's median; %d CPUs\n\n",
		o.runs, o.seq, o.conc, o.workers, runtime.NumCPU())
	fmt.Fprintln(w, "| target | initialize | seq calls/s | seq p50 (added) | seq p99 (added) | 8-way calls/s | 8-way p50 | 8-way p99 | CPU/call: replicas | upstream | haproxy | redis | client | total (added) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	base := median(all, "http", "go")
	for _, t := range targets {
		m := median(all, t.name, "go")
		if m == nil {
			continue
		}
		total := m.CPUPerCall + m.CPUUpstream + m.CPUHAProxy + m.CPURedis + m.CPUClient
		added := func(v, b float64) string {
			if base == nil || t.name == "http" {
				return ""
			}
			return fmt.Sprintf(" (%+.0f µs)", v-b)
		}
		var baseTotal float64
		if base != nil {
			baseTotal = base.CPUPerCall + base.CPUUpstream + base.CPUHAProxy + base.CPURedis + base.CPUClient
		}
		opt := func(v float64, on bool) string {
			if !on {
				return "—"
			}
			return fmt.Sprintf("%.0f µs", v)
		}
		fmt.Fprintf(w, "| %s | %.1f ms | %.0f | %.0f µs%s | %.0f µs%s | %.0f | %.0f µs | %.0f µs | %.0f µs | %.0f µs | %s | %s | %.0f µs | %.0f µs%s |\n",
			t.name, m.InitMs, m.SeqRate, m.SeqP50us, added(m.SeqP50us, base.p50()), m.SeqP99us, added(m.SeqP99us, base.p99()),
			m.ConcRate, m.ConcP50us, m.ConcP99us,
			m.CPUPerCall, m.CPUUpstream, opt(m.CPUHAProxy, t.haproxy), opt(m.CPURedis, t.redis), m.CPUClient,
			total, added(total, baseTotal))
	}
}

func (r *result) p50() float64 {
	if r == nil {
		return 0
	}
	return r.SeqP50us
}

func (r *result) p99() float64 {
	if r == nil {
		return 0
	}
	return r.SeqP99us
}

// medianOf is the median of v (which it sorts); 0 for none.
func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

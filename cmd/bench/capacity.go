package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/authn"
	"secure-mcp-gateway/internal/config"
)

// Capacity: how many clients one --http replica holds within a memory
// budget, with the echo upstream. Each measurement starts a fresh replica,
// lets its memory settle, opens N clients at once (each calls echo once, so
// that whatever upstream it needs runs), lets memory settle again and reads
// /proc of the replica and of every process under it.

// capMode is a kind of client.
type capMode string

const (
	// modeLegacy: 2025-11-25 clients, each its own Mcp-Session-Id session,
	// all with one key. Each session runs its own upstream processes.
	modeLegacy capMode = "legacy session"
	// modeStatelessOneKey: 2026-07-28 stateless clients sharing one key,
	// so one principal (one gateway and upstream pool) on the replica.
	modeStatelessOneKey capMode = "stateless, 1 key"
	// modeStatelessKeys: 2026-07-28 stateless clients with a key each,
	// so a principal each.
	modeStatelessKeys capMode = "stateless, N keys"
)

// capResult is one measurement of N clients on a fresh replica, in MB.
type capResult struct {
	Mode    capMode   `json:"mode"`
	Clients int       `json:"clients"`
	Before  memSample `json:"before"` // settled, no client yet
	After   memSample `json:"after"`  // settled, N clients connected, each having called once
	Settled bool      `json:"settled"`
}

// parseCounts parses "10,25,50" into positive counts.
func parseCounts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("count %q: want a positive integer", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no counts in %q", s)
	}
	return out, nil
}

// runCapacity measures every count of -sessions and -stateless o.runs
// times and prints the medians.
func runCapacity(ctx context.Context, o *options, out io.Writer) error {
	type job struct {
		mode capMode
		n    int
	}
	var jobs []job
	for _, n := range o.sessions {
		jobs = append(jobs, job{modeLegacy, n})
	}
	for _, n := range o.stateless {
		jobs = append(jobs, job{modeStatelessOneKey, n}, job{modeStatelessKeys, n})
	}
	var all []capResult
	for i := range o.runs {
		for _, j := range jobs {
			r, err := measureCapacity(ctx, o, j.mode, j.n)
			if err != nil {
				return fmt.Errorf("%s ×%d: %w", j.mode, j.n, err)
			}
			fmt.Fprintf(os.Stderr, "run %d %-18s ×%-4d gateway RSS %.1f→%.1f MB, tree PSS %.1f→%.1f MB, %d processes, settled %v\n",
				i+1, j.mode, j.n, r.Before.Gateway.RSS, r.After.Gateway.RSS, r.Before.Tree.PSS, r.After.Tree.PSS, r.After.Procs, r.Settled)
			all = append(all, *r)
		}
	}
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(all, "", "  ")
		path := strings.TrimSuffix(o.jsonOut, filepath.Ext(o.jsonOut)) + ".capacity.json"
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
	}
	writeCapacityTable(out, o, all)
	return nil
}

// measureCapacity opens n clients of mode on a fresh replica and reads
// its memory before and after.
func measureCapacity(ctx context.Context, o *options, mode capMode, n int) (*capResult, error) {
	dir, err := os.MkdirTemp("", "smg-bench-cap-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "config.json")
	key, err := writeConfig(o.bin, path, false)
	if err != nil {
		return nil, err
	}
	keys := []string{key}
	if mode == modeStatelessKeys {
		if keys, err = addKeys(path, key, n-1); err != nil {
			return nil, err
		}
	}
	cmd, endpoint, err := startGateway(o, path, highLimits...)
	if err != nil {
		return nil, err
	}
	defer stopGroup(cmd)
	pid := cmd.Process.Pid
	r := &capResult{Mode: mode, Clients: n}
	r.Before, _ = waitSettled(ctx, pid)

	base := &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}
	defer base.CloseIdleConnections()
	sessions := make([]*mcp.ClientSession, n)
	defer func() {
		parallel(n, o.workers, func(i int) error {
			if sessions[i] != nil {
				sessions[i].Close()
			}
			return nil
		})
	}()
	err = parallel(n, o.workers, func(i int) error {
		hc := &http.Client{Transport: &headerTransport{key: keys[i%len(keys)], rt: base}}
		client := mcp.NewClient(&mcp.Implementation{Name: "bench-capacity", Version: "1"}, nil)
		opts := &mcp.ClientSessionOptions{ProtocolVersion: protocolVersion}
		if mode != modeLegacy {
			opts = nil // the go-sdk default: 2026-07-28 when the server speaks it
		}
		cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, MaxRetries: -1}, opts)
		if err != nil {
			return fmt.Errorf("client %d: connect: %w", i, err)
		}
		sessions[i] = cs
		if mode != modeLegacy {
			if v := cs.InitializeResult().ProtocolVersion; v != "2026-07-28" {
				return fmt.Errorf("client %d negotiated %s, not the stateless 2026-07-28", i, v)
			}
		}
		if err := callEcho(ctx, cs, "echo_server__echo"); err != nil {
			return fmt.Errorf("client %d: call: %w", i, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.After, r.Settled = waitSettled(ctx, pid)
	return r, nil
}

// addKeys adds more keys to the config at path, each for the project and
// user of first, and returns first and them, revealed.
func addKeys(path, first string, more int) ([]string, error) {
	keys := []string{first}
	err := editConfig(path, func(cfg *config.Config) {
		owner := cfg.APIKeys[authn.HashKey(first)]
		if owner == nil {
			for _, k := range cfg.APIKeys {
				owner = k
			}
		}
		for range more {
			k, stored, err := authn.NewKey()
			if err != nil {
				continue // crypto/rand failing: fewer keys, caught below
			}
			cfg.APIKeys[stored] = &config.APIKey{ProjectID: owner.ProjectID, UserID: owner.UserID}
			keys = append(keys, k.Reveal())
		}
	})
	if err == nil && len(keys) != more+1 {
		err = fmt.Errorf("made %d keys of %d", len(keys)-1, more)
	}
	return keys, err
}

// parallel runs f(0) … f(n-1) on workers goroutines and returns the first
// error.
func parallel(n, workers int, f func(i int) error) error {
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range max(1, workers) {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

// capRow is the medians over the runs of one (mode, clients) pair.
type capRow struct {
	mode                      capMode
	n                         int
	gwBefore, gwAfter         float64 // the gateway's RSS
	treeBefore, treeAfter     float64 // PSS of the gateway and everything under it
	treeRSSAfter, procs       float64
	perClientGW, perClientAll float64 // MB per client
	settled                   bool    // every run settled
}

// capRows folds the runs into rows, in the order they were measured.
func capRows(all []capResult) []capRow {
	var rows []capRow
	for _, r := range all {
		if slices.ContainsFunc(rows, func(x capRow) bool { return x.mode == r.Mode && x.n == r.Clients }) {
			continue
		}
		var rs []capResult
		for _, x := range all {
			if x.Mode == r.Mode && x.Clients == r.Clients {
				rs = append(rs, x)
			}
		}
		med := func(f func(*capResult) float64) float64 {
			v := make([]float64, len(rs))
			for i := range rs {
				v[i] = f(&rs[i])
			}
			return medianOf(v)
		}
		row := capRow{mode: r.Mode, n: r.Clients, settled: true,
			gwBefore:     med(func(x *capResult) float64 { return x.Before.Gateway.RSS }),
			gwAfter:      med(func(x *capResult) float64 { return x.After.Gateway.RSS }),
			treeBefore:   med(func(x *capResult) float64 { return x.Before.Tree.PSS }),
			treeAfter:    med(func(x *capResult) float64 { return x.After.Tree.PSS }),
			treeRSSAfter: med(func(x *capResult) float64 { return x.After.Tree.RSS }),
			procs:        med(func(x *capResult) float64 { return float64(x.After.Procs) }),
			perClientGW:  med(func(x *capResult) float64 { return (x.After.Gateway.RSS - x.Before.Gateway.RSS) / float64(x.Clients) }),
			perClientAll: med(func(x *capResult) float64 { return (x.After.Tree.PSS - x.Before.Tree.PSS) / float64(x.Clients) }),
		}
		for _, x := range rs {
			row.settled = row.settled && x.Settled
		}
		rows = append(rows, row)
	}
	return rows
}

// fitAt is how many clients fit in limit MB starting from base and
// growing by per each; -1 when they do not grow it measurably.
func fitAt(limit, base, per float64) int {
	if per < 0.01 {
		return -1
	}
	return int(math.Max(0, math.Floor((limit-base)/per)))
}

func fitString(n int) string {
	if n < 0 {
		return "not bounded by clients"
	}
	return strconv.Itoa(n)
}

// writeCapacityTable prints the capacity rows and, per mode, the figure of
// its largest count.
func writeCapacityTable(w io.Writer, o *options, all []capResult) {
	rows := capRows(all)
	fmt.Fprintf(w, "\nCapacity of one --http replica with the echo upstream: %d runs, medians; memory read once it settled (%d samples %s apart agreeing); budget %.0f MB\n\n",
		o.runs, settleSamples, settleEvery, o.rssLimit)
	fmt.Fprintln(w, "| clients | kind | gateway RSS before → after | MB/client (gateway) | gateway+children PSS before → after | MB/client (all) | processes | ΣRSS after | fit in budget: gateway alone | gateway + upstreams |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		note := ""
		if !r.settled {
			note = " (not settled)"
		}
		fmt.Fprintf(w, "| %d | %s | %.1f → %.1f MB%s | %.2f | %.1f → %.1f MB | %.2f | %.0f | %.1f MB | %s | %s |\n",
			r.n, r.mode, r.gwBefore, r.gwAfter, note, r.perClientGW, r.treeBefore, r.treeAfter, r.perClientAll,
			r.procs, r.treeRSSAfter,
			fitString(fitAt(o.rssLimit, r.gwBefore, r.perClientGW)), fitString(fitAt(o.rssLimit, r.treeBefore, r.perClientAll)))
	}
	fmt.Fprintln(w, "\nFitted over the counts of each kind (least squares of memory after against clients, so that one-time costs of the first clients fall into the intercept; with one count, the line from before to after):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| kind | gateway RSS: MB + MB/client | fit in budget | gateway+children PSS: MB + MB/client | fit in budget |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, mode := range []capMode{modeLegacy, modeStatelessOneKey, modeStatelessKeys} {
		var n, gw, tree []float64
		for _, r := range rows {
			if r.mode == mode {
				n, gw, tree = append(n, float64(r.n)), append(gw, r.gwAfter), append(tree, r.treeAfter)
			}
		}
		switch len(n) {
		case 0:
			continue
		case 1:
			// One count: the line through the replica before its first
			// client and after the last.
			r := rows[slices.IndexFunc(rows, func(r capRow) bool { return r.mode == mode })]
			n, gw, tree = append(n, 0), append(gw, r.gwBefore), append(tree, r.treeBefore)
		}
		a, b := fitLine(n, gw)
		c, d := fitLine(n, tree)
		fmt.Fprintf(w, "| %s | %.1f + %.3f | %s | %.1f + %.3f | %s |\n",
			mode, a, b, fitString(fitAt(o.rssLimit, a, b)), c, d, fitString(fitAt(o.rssLimit, c, d)))
	}
}

// fitLine is the least-squares line y = a + b·x through the points; when
// every x is the same, the horizontal line through their mean.
func fitLine(x, y []float64) (a, b float64) {
	n := float64(len(x))
	var sx, sy, sxx, sxy float64
	for i := range x {
		sx, sy, sxx, sxy = sx+x[i], sy+y[i], sxx+x[i]*x[i], sxy+x[i]*y[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return sy / max(n, 1), 0
	}
	b = (n*sxy - sx*sy) / den
	return (sy - b*sx) / n, b
}

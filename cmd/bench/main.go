// Command bench measures what the gateway costs a client, against the limit
// (the client talking to the upstream directly) and against the Node MCP
// proxies, all in one run on one machine.
//
// Every target fronts the same upstream, the gateway's bundled Go stdio echo
// server (`secure-mcp-gateway example-server echo`), and is driven by a
// go-sdk client and, as a client-neutral cross-check, by the reference
// TypeScript client (testdata/bench-node/client.mjs). For each target it
// records the time from process start to the initialize response, tools/list
// cold and warm, per-call latency and throughput sequentially and 8-way
// concurrently, and the serving process's RSS idle and after the calls. It
// prints a Markdown table of the medians over -runs runs with ratios to
// direct.
//
// The cluster targets (named with -only: http, http+redis, http+haproxy,
// http+haproxy+redis) measure what a load balancer (the shipped HAProxy
// config, two replicas) and the Redis that holds the per-key rate limit
// add to a tool call over one --http replica, and the CPU each process
// spends per call. -sessions and -stateless measure how many clients one
// replica holds within -rss-limit MB (capacity.go).
//
// Run from the module root: go run ./cmd/bench (or just bench).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"secure-mcp-gateway/telemetry/otlptest"
)

// Default sizes of a run; flags override them.
const (
	DefaultRuns        = 3
	DefaultSeqCalls    = 5000
	DefaultConcCalls   = 5000
	DefaultConcurrency = 8
	DefaultTSCalls     = 2000
	DefaultRSSLimitMB  = 200
)

// protocolVersion is what every client asks for, so that no target
// negotiates a draft version the others do not speak.
const protocolVersion = "2025-11-25"

// message is the echo argument: a typical short tool argument.
const message = "benchmark payload of a typical size, about sixty bytes long"

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", DefaultRuns, "runs per target; the table shows medians")
	flag.IntVar(&o.seq, "seq", DefaultSeqCalls, "sequential calls per run")
	flag.IntVar(&o.conc, "conc", DefaultConcCalls, "concurrent calls per run")
	flag.IntVar(&o.workers, "workers", DefaultConcurrency, "concurrent callers")
	flag.StringVar(&o.bin, "bin", "", "gateway binary (default: build one without -race into a temp dir)")
	flag.StringVar(&o.only, "only", "", "comma-separated target names to run (default: all but the cluster targets http, http+redis, http+haproxy, http+haproxy+redis)")
	flag.StringVar(&o.haproxyCfg, "haproxy-cfg", "deploy/haproxy/haproxy.cfg", "HAProxy config of the +haproxy targets (addresses from the environment)")
	flag.Func("sessions", "comma-separated counts of concurrent legacy sessions whose memory to measure on one replica (e.g. 10,25,50)", func(s string) error {
		var err error
		o.sessions, err = parseCounts(s)
		return err
	})
	flag.Func("stateless", "comma-separated counts of concurrent stateless (2026-07-28) clients whose memory to measure on one replica", func(s string) error {
		var err error
		o.stateless, err = parseCounts(s)
		return err
	})
	flag.Float64Var(&o.rssLimit, "rss-limit", DefaultRSSLimitMB, "memory budget of a replica in MB, for the sessions it would hold")
	flag.IntVar(&o.tsCalls, "ts-calls", DefaultTSCalls, "sequential and concurrent calls per run of the TypeScript client")
	flag.BoolVar(&o.ts, "ts", true, "also drive every target with the reference TypeScript client")
	flag.StringVar(&o.nodeDir, "node", "testdata/bench-node", "directory with the installed Node peers")
	flag.StringVar(&o.jsonOut, "json", "", "also write every run's raw figures to this file")
	flag.StringVar(&o.profileDir, "profile", "", "write CPU and heap profiles of gateway processes into this directory")
	flag.StringVar(&o.otlpProtocol, "otlp-protocol", "grpc", "how the +otlp targets export: grpc or http/protobuf")
	flag.Func("gateway-env", "KEY=VALUE added to the environment of gateway processes only (repeatable)", func(kv string) error {
		o.gatewayEnv = append(o.gatewayEnv, kv)
		return nil
	})
	flag.Parse()
	if err := run(context.Background(), &o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	runs, seq, conc, workers int
	tsCalls                  int
	bin, only, nodeDir       string
	jsonOut, profileDir      string
	gatewayEnv               []string
	otlpEnv                  []string // set when a target traces
	otlpProtocol             string
	ts                       bool
	haproxyCfg               string
	sessions, stateless      []int   // capacity: counts of concurrent clients
	rssLimit                 float64 // capacity: a replica's memory budget, MB
}

// result is one run of one client against one target.
type result struct {
	Target     string  `json:"target"`
	Client     string  `json:"client"`
	InitMs     float64 `json:"init_ms"`
	ListColdMs float64 `json:"list_cold_ms"`
	ListWarmMs float64 `json:"list_warm_ms"`
	SeqP50us   float64 `json:"seq_p50_us"`
	SeqP99us   float64 `json:"seq_p99_us"`
	SeqRate    float64 `json:"seq_calls_per_s"`
	ConcP50us  float64 `json:"conc_p50_us"`
	ConcP99us  float64 `json:"conc_p99_us"`
	ConcRate   float64 `json:"conc_calls_per_s"`
	RSSIdleMB  float64 `json:"rss_idle_mb"`
	RSSAfterMB float64 `json:"rss_after_mb"`
	// CPUPerCall is the serving process's user+system CPU time per call
	// over all the calls, in µs: less sensitive to a busy machine than
	// wall-clock figures.
	CPUPerCall float64 `json:"cpu_us_per_call"`
	// Cluster targets only, CPU per call in µs: the gateway replicas'
	// upstream processes, HAProxy, redis-server and the bench itself (the
	// client). CPUPerCall is then all the replicas together.
	CPUUpstream float64 `json:"cpu_upstream_us_per_call,omitempty"`
	CPUHAProxy  float64 `json:"cpu_haproxy_us_per_call,omitempty"`
	CPURedis    float64 `json:"cpu_redis_us_per_call,omitempty"`
	CPUClient   float64 `json:"cpu_client_us_per_call,omitempty"`
}

func run(ctx context.Context, o *options, out io.Writer) (err error) {
	if o.bin == "" {
		dir, err := os.MkdirTemp("", "smg-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.bin = filepath.Join(dir, "secure-mcp-gateway")
		// Built as the README says: a static binary, without cgo.
		build := exec.Command("go", "build", "-o", o.bin, "secure-mcp-gateway")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("build gateway: %w\n%s", err, b)
		}
	}
	if o.bin, err = filepath.Abs(o.bin); err != nil {
		return err
	}
	if o.nodeDir, err = filepath.Abs(o.nodeDir); err != nil {
		return err
	}
	if o.haproxyCfg, err = filepath.Abs(o.haproxyCfg); err != nil {
		return err
	}
	targets := selectTargets(allTargets(o), o.only)
	if len(o.sessions)+len(o.stateless) > 0 {
		if o.only == "" {
			targets = nil // -sessions / -stateless alone: capacity only
		}
		defer func() {
			if err == nil {
				err = runCapacity(ctx, o, out)
			}
		}()
	}
	if len(targets) == 0 {
		return nil
	}
	if slices.ContainsFunc(targets, func(t *target) bool { return t.otlp }) {
		// A receiver that decodes every export and counts its spans, as a
		// collector's OTLP receiver does, in this process.
		col, err := otlptest.StartCounting()
		if err != nil {
			return fmt.Errorf("otlp receiver: %w", err)
		}
		defer func() {
			fmt.Fprintf(os.Stderr, "otlp receiver: %d spans\n", col.Counted())
			col.Close()
		}()
		o.otlpEnv = []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + col.GRPCAddr, "OTEL_EXPORTER_OTLP_INSECURE=true"}
		if o.otlpProtocol == "http/protobuf" {
			o.otlpEnv = []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + strings.TrimSuffix(col.HTTPURL, "/v1/traces"), "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"}
		}
	}
	var all []result
	for i := range o.runs {
		for _, t := range targets {
			if t.node && !o.haveNode(t) {
				fmt.Fprintf(os.Stderr, "skip %s: not installed (npm ci in %s)\n", t.name, o.nodeDir)
				continue
			}
			if t.cluster {
				r, err := measureCluster(ctx, o, t)
				if err != nil {
					return fmt.Errorf("%s: %w", t.name, err)
				}
				fmt.Fprintf(os.Stderr, "run %d %-18s go: %s\n", i+1, t.name, r.short())
				all = append(all, *r)
				continue // go client only
			}
			r, err := measureGo(ctx, o, t, i)
			if err != nil {
				return fmt.Errorf("%s (go client): %w", t.name, err)
			}
			fmt.Fprintf(os.Stderr, "run %d %-14s go: %s\n", i+1, t.name, r.short())
			all = append(all, *r)
			if o.ts {
				r, err := measureTS(ctx, o, t, i)
				if err != nil {
					return fmt.Errorf("%s (ts client): %w", t.name, err)
				}
				fmt.Fprintf(os.Stderr, "run %d %-14s ts: %s\n", i+1, t.name, r.short())
				all = append(all, *r)
			}
		}
	}
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(all, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	writeTable(out, o, targets, all)
	return nil
}

func (r *result) short() string {
	return fmt.Sprintf("init %.1fms seq %.0f/s p50 %.0fµs p99 %.0fµs | %d-way %.0f/s | rss %.1f→%.1f MB | cpu %.0fµs/call",
		r.InitMs, r.SeqRate, r.SeqP50us, r.SeqP99us, DefaultConcurrency, r.ConcRate, r.RSSIdleMB, r.RSSAfterMB, r.CPUPerCall)
}

func (o *options) haveNode(t *target) bool {
	_, err := os.Stat(filepath.Join(o.nodeDir, "node_modules", "@modelcontextprotocol", "sdk"))
	if err != nil {
		return false
	}
	if len(t.argv) > 0 && strings.Contains(t.argv[0], "node_modules") {
		_, err = os.Stat(t.argv[0])
	}
	return err == nil
}

// selectTargets keeps the targets only names (comma-separated); with only
// empty, every target but the cluster ones.
func selectTargets(targets []*target, only string) []*target {
	keep := strings.Split(only, ",")
	return slices.DeleteFunc(targets, func(t *target) bool {
		if only == "" {
			return t.cluster
		}
		return !slices.Contains(keep, t.name)
	})
}

// target is one way of reaching the echo tool.
type target struct {
	name  string
	tool  string // the echo tool's name as this target exports it
	http  bool   // served over streamable HTTP; else the client spawns argv over stdio
	node  bool   // needs the Node peers
	guard bool   // gateway with guardrails on
	gw    bool   // the gateway itself (config and key needed)
	otlp  bool   // gateway tracing every call to the bench's own OTLP receiver
	argv  []string
	// Cluster targets (measureCluster): --http replicas without guardrails,
	// run only when -only names them.
	cluster bool
	haproxy bool // two replicas behind HAProxy; else one replica
	redis   bool // the config names a Redis: the rate limit is kept there
}

func allTargets(o *options) []*target {
	echo := []string{o.bin, "example-server", "echo"}
	bin := filepath.Join(o.nodeDir, "node_modules", ".bin")
	return []*target{
		{name: "direct", tool: "echo", argv: echo},
		{name: "stdio", tool: "echo_server__echo", gw: true, argv: []string{o.bin}},
		{name: "stdio+guard", tool: "echo_server__echo", gw: true, guard: true, argv: []string{o.bin}},
		{name: "stdio+guard+otlp", tool: "echo_server__echo", gw: true, guard: true, otlp: true, argv: []string{o.bin}},
		{name: "http+guard", tool: "echo_server__echo", gw: true, guard: true, http: true, argv: []string{o.bin, "--http", "--listen", "127.0.0.1:0", "--rate-limit", "1000000", "--rate-burst", "1000000"}},
		{name: "mcp-proxy", tool: "echo", http: true, node: true,
			argv: append([]string{filepath.Join(bin, "mcp-proxy"), "--port", "PORT", "--host", "127.0.0.1", "--server", "stream", "--"}, echo...)},
		{name: "supergateway", tool: "echo", http: true, node: true,
			argv: []string{filepath.Join(bin, "supergateway"), "--stdio", strings.Join(echo, " "), "--outputTransport", "streamableHttp", "--port", "PORT", "--stateful", "--logLevel", "none"}},
		{name: "http", tool: "echo_server__echo", cluster: true},
		{name: "http+redis", tool: "echo_server__echo", cluster: true, redis: true},
		{name: "http+haproxy", tool: "echo_server__echo", cluster: true, haproxy: true},
		{name: "http+haproxy+redis", tool: "echo_server__echo", cluster: true, haproxy: true, redis: true},
	}
}

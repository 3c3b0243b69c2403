package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/internal/config"
)

// The cluster targets: --http replicas, alone or two behind HAProxy (the
// shipped deploy/haproxy/haproxy.cfg), with or without the Redis that
// holds the per-key rate limit (and the other state replicas share).

// highLimits raise a replica's per-key rate limit and caps out of the way:
// the bench measures what they cost, never a refusal.
var highLimits = []string{
	"--rate-limit", "1000000", "--rate-burst", "1000000",
	"--max-sessions", "100000", "--max-sessions-per-key", "100000", "--max-upstream-processes", "100000",
}

// startGateway starts a --http gateway on the config at path, listening on
// a free loopback port, in a process group of its own, and returns it with
// its /mcp endpoint once it logs that it listens.
func startGateway(o *options, path string, extra ...string) (*exec.Cmd, string, error) {
	args := append([]string{"--config", path, "--log-level", "info", "--http", "--listen", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(o.bin, args...)
	cmd.Env = append(cleanEnv(), o.gatewayEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, "", err
	}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line struct{ Message, Endpoint string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "listening" {
				select {
				case listening <- line.Endpoint:
				default:
				}
			}
		}
	}()
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start gateway: %w", err)
	}
	select {
	case endpoint := <-listening:
		return cmd, endpoint, nil
	case <-time.After(30 * time.Second):
		stopGroup(cmd)
		return nil, "", errors.New("no listening line from the gateway")
	}
}

// startRedis starts a redis-server on a free loopback port with a random
// password, no persistence, its config file in dir (mode 0600, so the
// password is on no command line), and waits until it answers.
func startRedis(dir string) (cmd *exec.Cmd, port int, password string, err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, 0, "", fmt.Errorf("redis-server is not installed (apt-get install redis-server): %w", err)
	}
	if port, err = freePort(); err != nil {
		return nil, 0, "", err
	}
	password = rand.Text()
	conf := filepath.Join(dir, "redis.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir %s\nrequirepass %s\n", port, dir, password)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return nil, 0, "", err
	}
	cmd = exec.Command(bin, conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, 0, "", fmt.Errorf("start redis-server: %w", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := waitUntil(10*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}); err != nil {
		stopGroup(cmd)
		return nil, 0, "", fmt.Errorf("redis-server to listen: %w", err)
	}
	return cmd, port, password, nil
}

// startHAProxy runs the shipped HAProxy config (o.haproxyCfg, whose
// addresses are environment variables) in front of two gateways (host:port)
// and waits until it forwards /healthz. Its request log goes to /dev/null.
func startHAProxy(o *options, dir string, gateways []string) (*exec.Cmd, string, error) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		return nil, "", fmt.Errorf("haproxy is not installed (apt-get install haproxy): %w", err)
	}
	if len(gateways) != 2 {
		return nil, "", fmt.Errorf("the shipped config has two server lines, got %d gateways", len(gateways))
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	bind := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, "", err
	}
	defer devnull.Close()
	cmd := exec.Command(bin, "-db", "-f", o.haproxyCfg)
	cmd.Env = append(cleanEnv(),
		"HAPROXY_BIND="+bind,
		"HAPROXY_STATS_SOCKET="+filepath.Join(dir, "admin.sock"),
		"GATEWAY_1="+gateways[0],
		"GATEWAY_2="+gateways[1],
	)
	cmd.Stdout, cmd.Stderr = devnull, devnull
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start haproxy: %w", err)
	}
	if err := waitUntil(20*time.Second, func() bool {
		resp, err := http.Get("http://" + bind + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}); err != nil {
		stopGroup(cmd)
		return nil, "", fmt.Errorf("haproxy to forward /healthz: %w", err)
	}
	return cmd, "http://" + bind + "/mcp", nil
}

// waitUntil polls cond every 10 ms until it holds or d has passed.
func waitUntil(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", d)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition
	}
	return nil
}

// editConfig loads the config at path, applies edit and saves it.
func editConfig(path string, edit func(*config.Config)) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	edit(cfg)
	return config.Save(path, cfg)
}

// cluster is a cluster target running: its replicas and, if it has them,
// HAProxy in front and Redis behind.
type cluster struct {
	dir      string
	key      string
	url      string // where the client connects: HAProxy, else the replica
	replicas []*exec.Cmd
	haproxy  *exec.Cmd
	redis    *exec.Cmd
}

// startCluster starts what t names: Redis first (its address goes into
// the config every replica reads), then the replicas, then HAProxy.
func startCluster(o *options, t *target) (c *cluster, err error) {
	c = &cluster{}
	if c.dir, err = os.MkdirTemp("", "smg-bench-cluster-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.stop()
		}
	}()
	path := filepath.Join(c.dir, "config.json")
	if c.key, err = writeConfig(o.bin, path, false); err != nil {
		return nil, err
	}
	if t.redis {
		var port int
		var password string
		if c.redis, port, password, err = startRedis(c.dir); err != nil {
			return nil, err
		}
		// The discovery cache's settings: with them the per-key rate limit
		// is one bucket in Redis for every replica.
		if err = editConfig(path, func(cfg *config.Config) {
			cfg.Common.UseExternalCache = true
			cfg.Common.CacheHost = "127.0.0.1"
			cfg.Common.CachePort = port
			cfg.Common.CachePassword = &password
		}); err != nil {
			return nil, err
		}
	}
	replicas := 1
	if t.haproxy {
		replicas = 2
	}
	var addrs []string
	for range replicas {
		cmd, endpoint, err := startGateway(o, path, highLimits...)
		if err != nil {
			return nil, err
		}
		c.replicas = append(c.replicas, cmd)
		c.url = endpoint
		u, err := url.Parse(endpoint)
		if err != nil {
			return nil, fmt.Errorf("gateway endpoint %q: %w", endpoint, err)
		}
		addrs = append(addrs, u.Host)
	}
	if t.haproxy {
		if c.haproxy, c.url, err = startHAProxy(o, c.dir, addrs); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *cluster) stop() {
	stopGroup(c.haproxy)
	for _, r := range c.replicas {
		stopGroup(r)
	}
	stopGroup(c.redis)
	os.RemoveAll(c.dir)
}

// cpuSplit is CPU time by role.
type cpuSplit struct {
	gateway, upstream, haproxy, redis, client time.Duration
}

// cpu reads the CPU time every process of c has used so far, and this
// process's (the client's).
func (c *cluster) cpu() cpuSplit {
	var s cpuSplit
	for _, r := range c.replicas {
		s.gateway += cpuTime(r.Process.Pid)
		s.upstream += cpuTimes(descendants(r.Process.Pid))
	}
	if c.haproxy != nil {
		s.haproxy = cpuTime(c.haproxy.Process.Pid)
	}
	if c.redis != nil {
		s.redis = cpuTime(c.redis.Process.Pid)
	}
	s.client = cpuTime(os.Getpid())
	return s
}

// measureCluster drives a fresh cluster target with one go-sdk client on
// one legacy (2025-11-25) session, as the other HTTP targets are driven
// (initialize is timed from Connect: the servers are up by then),
// and splits the CPU the calls cost by process.
func measureCluster(ctx context.Context, o *options, t *target) (*result, error) {
	c, err := startCluster(o, t)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	r := &result{Target: t.name, Client: "go"}
	client := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
	hc := &http.Client{Transport: &headerTransport{key: c.key, rt: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}}
	t0 := time.Now()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: c.url, HTTPClient: hc, MaxRetries: -1},
		&mcp.ClientSessionOptions{ProtocolVersion: protocolVersion})
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer cs.Close()
	r.InitMs = ms(time.Since(t0)) // the servers are up: initialize alone
	var cpu0 cpuSplit
	err = exercise(ctx, o, cs, t.tool, r, func() {
		for _, rep := range c.replicas {
			r.RSSIdleMB = max(r.RSSIdleMB, rssMB(rep.Process.Pid))
		}
		cpu0 = c.cpu()
	}, func() {
		cpu1 := c.cpu()
		n := float64(o.seq + o.conc)
		per := func(a, b time.Duration) float64 { return us(b-a) / n }
		r.CPUPerCall = per(cpu0.gateway, cpu1.gateway)
		r.CPUUpstream = per(cpu0.upstream, cpu1.upstream)
		r.CPUHAProxy = per(cpu0.haproxy, cpu1.haproxy)
		r.CPURedis = per(cpu0.redis, cpu1.redis)
		r.CPUClient = per(cpu0.client, cpu1.client)
		for _, rep := range c.replicas {
			r.RSSAfterMB = max(r.RSSAfterMB, rssMB(rep.Process.Pid))
		}
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

package scan

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"secure-mcp-gateway/guard"
)

// DefaultTimeout is how long one server may take to start and list its
// definitions.
const DefaultTimeout = 10 * time.Second

// SchemaVersion is the version of the JSON report (docs/SCAN.md).
const SchemaVersion = 1

// Options configure Run. The zero value is usable.
type Options struct {
	// Timeout bounds each server's start and listing; zero means
	// DefaultTimeout.
	Timeout time.Duration
	// Pins are the gateway's pinned definitions, compared with what the
	// gateway config's servers list now; nil means no comparison.
	Pins *guard.Pins
	// Parallel is how many servers are scanned at once; zero means 4.
	Parallel int
	// Version is the client version the scan announces.
	Version string
}

// Report is the outcome of a scan; its JSON form is documented in
// docs/SCAN.md.
type Report struct {
	// Version is SchemaVersion.
	Version int `json:"version"`
	// Configs are the config files read, with the error of each one that
	// could not be read.
	Configs []ConfigResult `json:"configs"`
	// Servers are the servers found, in config order.
	Servers []ServerResult `json:"servers"`
	// Findings are the definition findings, by client, server, kind, name.
	Findings []Finding `json:"findings"`
}

// ConfigResult is one config file that exists.
type ConfigResult struct {
	Client  string `json:"client"`
	Path    string `json:"path"`
	Servers int    `json:"servers"`
	Error   string `json:"error,omitempty"`
}

// ServerResult is what one server listed, or why it could not be scanned.
type ServerResult struct {
	Client string `json:"client"`
	Config string `json:"config"`
	Name   string `json:"name"`
	// Transport is "stdio" or "http".
	Transport string `json:"transport"`
	// Target is the command's base name or the URL without query and
	// user info; never an env or header value.
	Target string `json:"target"`
	// Status is "ok", "error" or "gateway" (an entry that runs this
	// gateway; its upstreams are scanned from the gateway config).
	Status            string `json:"status"`
	Error             string `json:"error,omitempty"`
	Tools             int    `json:"tools"`
	Prompts           int    `json:"prompts"`
	ResourceTemplates int    `json:"resource_templates"`

	defs []definition
}

// Finding is one finding in one definition of one server.
type Finding struct {
	Client string `json:"client"`
	Server string `json:"server"`
	// Kind is "tool", "prompt" or "resource_template".
	Kind string `json:"kind"`
	// Name is the tool's, prompt's or template's name.
	Name string `json:"name"`
	guard.DefinitionFinding
}

// definition is one listed tool, prompt or resource template.
type definition struct {
	kind, name string
	value      any // what was listed, for the rules
	tool       *mcp.Tool
}

// Run connects to every server (ViaGateway entries are only recorded),
// lists its definitions and checks them all together. Servers that fail
// are reported in their ServerResult; Run itself fails only when ctx ends.
func Run(ctx context.Context, servers []*Server, opts *Options) (*Report, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	rep := &Report{Version: SchemaVersion, Configs: []ConfigResult{}, Servers: make([]ServerResult, len(servers)), Findings: []Finding{}}
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for i, s := range servers {
		r := &rep.Servers[i]
		*r = ServerResult{Client: s.Client, Config: s.Config, Name: s.Name, Transport: "stdio", Target: s.Target()}
		if s.Command == "" {
			r.Transport = "http"
		}
		if s.ViaGateway {
			r.Status = "gateway"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			list(ctx, s, r, &o)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	check(rep, &o)
	return rep, nil
}

// list fills r with what s lists.
func list(ctx context.Context, s *Server, r *ServerResult, o *Options) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	fail := func(what string, err error) {
		r.Status = "error"
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			r.Error = fmt.Sprintf("%s: no answer within %s", what, o.Timeout)
			return
		}
		r.Error = mask(fmt.Sprintf("%s: %v", what, err), s)
	}
	var t mcp.Transport
	switch {
	case s.Command != "":
		cmd := exec.Command(s.Command, s.Args...)
		cmd.Env = os.Environ()
		for k, v := range s.Env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		t = &mcp.CommandTransport{Command: cmd, TerminateDuration: time.Second}
	case s.URL != "":
		t = &mcp.StreamableClientTransport{Endpoint: s.URL, MaxRetries: -1, DisableStandaloneSSE: true,
			HTTPClient: &http.Client{Transport: headerTransport{s.Headers, http.DefaultTransport}}}
	default:
		fail("config", errors.New("the entry has neither a command nor a url"))
		return
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "secure-mcp-gateway-scan", Version: o.Version}, nil)
	sess, err := c.Connect(ctx, t, nil)
	if err != nil {
		fail("start", err)
		return
	}
	defer sess.Close()
	caps := sess.InitializeResult().Capabilities
	if caps == nil {
		caps = &mcp.ServerCapabilities{}
	}
	if caps.Tools != nil {
		for tool, err := range sess.Tools(ctx, nil) {
			if err != nil {
				fail("tools/list", err)
				return
			}
			r.Tools++
			r.defs = append(r.defs, definition{kind: "tool", name: tool.Name, value: tool, tool: tool})
		}
	}
	if caps.Prompts != nil {
		for p, err := range sess.Prompts(ctx, nil) {
			if err != nil {
				fail("prompts/list", err)
				return
			}
			r.Prompts++
			r.defs = append(r.defs, definition{kind: "prompt", name: p.Name, value: p})
		}
	}
	if caps.Resources != nil {
		for rt, err := range sess.ResourceTemplates(ctx, nil) {
			if err != nil {
				fail("resources/templates/list", err)
				return
			}
			r.ResourceTemplates++
			r.defs = append(r.defs, definition{kind: "resource_template", name: rt.Name, value: rt})
		}
	}
	r.Status = "ok"
}

// headerTransport adds the configured headers to every request.
type headerTransport struct {
	headers map[string]string
	next    http.RoundTripper
}

func (h headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(h.headers) > 0 {
		req = req.Clone(req.Context())
		for k, v := range h.headers {
			req.Header.Set(k, v)
		}
	}
	return h.next.RoundTrip(req)
}

// mask replaces every env and header value of s in msg, and every
// secret the guard finds, so an error message never carries one.
func mask(msg string, s *Server) string {
	var vals []string
	for _, v := range s.Env {
		vals = append(vals, v)
	}
	for _, v := range s.Headers {
		vals = append(vals, v)
	}
	if u := s.URL; u != "" {
		vals = append(vals, u)
		msg = strings.ReplaceAll(msg, u, s.Target())
	}
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	for _, v := range vals {
		if len(v) >= 3 {
			msg = strings.ReplaceAll(msg, v, "***")
		}
	}
	return guard.RedactSecrets(msg)
}

// check runs the definition rules over every definition, with each
// server's other definitions as siblings and every other server's tool
// names as foreign, and compares the gateway's servers with the pins.
func check(rep *Report, o *Options) {
	names := make([][]string, len(rep.Servers))
	for i := range rep.Servers {
		for _, d := range rep.Servers[i].defs {
			names[i] = append(names[i], d.name)
		}
	}
	for i := range rep.Servers {
		r := &rep.Servers[i]
		var foreign []string
		for j := range rep.Servers {
			if j != i && !(rep.Servers[j].Client == r.Client && rep.Servers[j].Name == r.Name) {
				for _, n := range names[j] {
					if !slices.Contains(names[i], n) {
						foreign = append(foreign, n)
					}
				}
			}
		}
		for _, d := range r.defs {
			fs, err := guard.ScanToolDefinition(d.value, &guard.DefinitionOptions{Siblings: names[i], Foreign: foreign})
			if err != nil {
				fs = []guard.DefinitionFinding{{Detector: guard.DetectorDefinition, Rule: "unreadable", Severity: guard.SeverityWarn, Field: "", Excerpt: err.Error()}}
			}
			for _, f := range fs {
				rep.Findings = append(rep.Findings, Finding{Client: r.Client, Server: r.Name, Kind: d.kind, Name: d.name, DefinitionFinding: f})
			}
			if d.tool != nil && r.Client == ClientGateway && o.Pins != nil {
				if pin := o.Pins.Servers[r.Name][d.name]; pin != nil {
					if _, hash, err := guard.Canonical(d.tool); err == nil && hash != pin.SHA256 {
						rep.Findings = append(rep.Findings, Finding{Client: r.Client, Server: r.Name, Kind: d.kind, Name: d.name, DefinitionFinding: guard.DefinitionFinding{
							Detector: "pin", Rule: "definition_changed", Severity: guard.SeverityBlock, Field: "(definition)",
							Excerpt: "differs from the pinned definition (pinned " + pin.PinnedAt + "); review with `secure-mcp-gateway tools diff`"}})
					}
				}
			}
		}
	}
}

// Worst returns the highest severity among the findings, or "".
func (r *Report) Worst() guard.Severity {
	var w guard.Severity
	for _, f := range r.Findings {
		if f.Severity.AtLeast(w) {
			w = f.Severity
		}
	}
	return w
}

// Failed reports whether a config or a server could not be scanned.
func (r *Report) Failed() bool {
	for _, c := range r.Configs {
		if c.Error != "" {
			return true
		}
	}
	for _, s := range r.Servers {
		if s.Status == "error" {
			return true
		}
	}
	return false
}

package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/admin"
	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/upstream"
)

// sandboxSpec turns a stdio server's effective sandbox block (its own, with
// the common defaults filled in) into the pool's. A block that does not
// parse yields a sandbox whose Invalid error fails the server's start: a
// server is never run with less isolation than its config asks for. Remote
// servers, and stdio servers neither sandboxed nor limited, get nil.
func sandboxSpec(s *config.Server, d *config.SandboxDefaults) *upstream.Sandbox {
	if s.Config.Command == "" {
		return nil
	}
	sb := config.EffectiveSandbox(s, d)
	if sb == nil {
		return nil
	}
	out := &upstream.Sandbox{
		Image:        sb.Image,
		Network:      sb.Network,
		NetworkAllow: sb.NetworkAllow,
		ReadOnly:     sb.ReadOnly == nil || *sb.ReadOnly,
		AllowedEnv:   sb.AllowedEnv,
		ROBinds:      sb.ExtraROBinds,
		RWBinds:      sb.ExtraRWBinds,
		SharePID:     sb.UnsharePID != nil && !*sb.UnsharePID,
	}
	if sb.Enabled {
		out.Runtime = sb.Runtime
	}
	if problems := sb.Problems("sandbox"); len(problems) > 0 {
		out.Invalid = errors.Join(problems...)
		return out
	}
	out.MemoryBytes, _ = config.ParseMemoryLimit(sb.MemoryLimit)
	out.CPUs, _ = config.ParseCPULimit(sb.CPULimit)
	out.Pids = sb.PidsLimit
	out.NoFile = uint64(sb.NoFileLimit)
	return out
}

// sandboxPresets are the sandbox blocks `add-server --sandbox PRESET` and
// `config update-server-sandbox --preset PRESET` write.
var sandboxPresets = map[string]func() *config.Sandbox{
	// strict: the auto runtime, no network, limits a typical server fits in.
	"strict": func() *config.Sandbox {
		return &config.Sandbox{Enabled: true, Runtime: config.SandboxAuto, Network: "none", MemoryLimit: "1g",
			CPULimit: "1.0", PidsLimit: 128, NoFileLimit: 1024}
	},
	// network: strict, but with the host's network (for servers that call
	// an API).
	"network": func() *config.Sandbox {
		return &config.Sandbox{Enabled: true, Runtime: config.SandboxAuto, Network: "host", MemoryLimit: "1g",
			CPULimit: "1.0", PidsLimit: 128, NoFileLimit: 1024}
	},
	// limits: no isolation, only the resource limits.
	"limits": func() *config.Sandbox {
		return &config.Sandbox{MemoryLimit: "1g", CPULimit: "1.0", PidsLimit: 128, NoFileLimit: 1024}
	},
}

// sandboxPreset returns the block of the named preset ("off" is nil).
func sandboxPreset(name string) (*config.Sandbox, error) {
	if name == "off" {
		return nil, nil
	}
	p, ok := sandboxPresets[name]
	if !ok {
		return nil, usageError("unknown sandbox preset %q; use %s or off", name,
			strings.Join(slices.Sorted(maps.Keys(sandboxPresets)), ", "))
	}
	return p(), nil
}

// sandboxPresetFlag is add-server's --sandbox.
var sandboxPresetFlag = &cli.StringFlag{Name: "sandbox",
	Usage: "sandbox preset: strict (no network), network (host network), limits (resource limits only) or off"}

// configUpdateServerSandboxCommand is `config update-server-sandbox`.
func configUpdateServerSandboxCommand(serverName cli.Flag) *cli.Command {
	return &cli.Command{
		Name:  "update-server-sandbox",
		Usage: "set a server's sandbox block (isolation and resource limits of a stdio server)",
		Flags: append(append(configRefFlags(), jsonFlag), serverName,
			&cli.StringFlag{Name: "preset", Usage: "strict, network, limits or off"},
			&cli.StringFlag{Name: "sandbox", Usage: `sandbox JSON, e.g. {"enabled":true,"runtime":"bwrap","network":"none","pids_limit":64}`},
			&cli.StringFlag{Name: "sandbox-file", Usage: "file holding the sandbox JSON"}),
		Action: configUpdateServerSandbox,
	}
}

func configUpdateServerSandbox(ctx context.Context, cmd *cli.Command) error {
	var sb *config.Sandbox
	var parsed config.Sandbox
	ok, err := readJSONFlag(cmd, "sandbox", "sandbox-file", &parsed)
	if err != nil {
		return err
	}
	switch preset := cmd.String("preset"); {
	case ok && preset != "":
		return usageError("give only one of --preset and --sandbox")
	case ok:
		sb = &parsed
	case preset != "":
		if sb, err = sandboxPreset(preset); err != nil {
			return err
		}
	default:
		return usageError("give a sandbox: --preset, --sandbox or --sandbox-file")
	}
	st, err := adminStore(cmd)
	if err != nil {
		return err
	}
	r, err := st.SetServerSandbox(ctx, admin.SetSandboxRequest{ServerRef: serverRef(cmd), Sandbox: sb})
	if err != nil {
		return cliError(err)
	}
	server := r.Server.Name
	what := "Removed the sandbox of"
	if sb != nil {
		what = "Updated the sandbox of"
	}
	return done(cmd, fmt.Sprintf("%s server %q", what, server), map[string]any{"server_name": server, "sandbox": sb})
}

// sandboxCheckFlag is health-check's --sandbox.
var sandboxCheckFlag = &cli.BoolFlag{Name: "sandbox",
	Usage: "report which sandbox runtimes and limit mechanisms work here (always, when a server has a sandbox)"}

// sandboxHealth returns a problem for every server whose sandbox block does
// not parse or needs a runtime or limit mechanism that does not work here,
// and, when all is set or a server has a sandbox or limits, which runtimes
// and mechanisms work here.
func sandboxHealth(c *config.Config, all bool) ([]string, []upstream.Mechanism) {
	type use struct {
		where string
		sb    *config.Sandbox
	}
	var issues []string
	var uses []use
	for _, id := range slices.Sorted(maps.Keys(c.MCPConfigs)) {
		m := c.MCPConfigs[id]
		if m == nil {
			continue
		}
		for _, s := range m.Servers {
			if s == nil || s.Config.Command == "" {
				continue
			}
			where := fmt.Sprintf("mcp config %q, server %q: sandbox", m.Name, s.Name)
			if s.Sandbox != nil {
				for _, p := range s.Sandbox.Problems(where) {
					issues = append(issues, p.Error())
				}
			}
			if sb := config.EffectiveSandbox(s, c.Common.Sandbox); sb != nil {
				uses = append(uses, use{where, sb})
			}
		}
	}
	if !all && len(uses) == 0 {
		return issues, nil
	}
	mechs := upstream.Mechanisms()
	works := map[string]bool{}
	for _, m := range mechs {
		works[m.Name] = m.OK
	}
	for _, u := range uses {
		need := []string{}
		switch rt := u.sb.Runtime; {
		case !u.sb.Enabled:
		case rt == config.SandboxAuto:
			if !works["bwrap"] && !works["podman"] && !works["docker"] {
				need = append(need, "bwrap, podman or docker")
			}
		default:
			if !works[rt] {
				need = append(need, rt)
			}
		}
		container := u.sb.Enabled && (u.sb.Runtime == config.SandboxDocker || u.sb.Runtime == config.SandboxPodman)
		for _, l := range []struct {
			set  bool
			name string
		}{{u.sb.PidsLimit > 0, "limit pids"}, {u.sb.MemoryLimit != "", "limit memory"}, {u.sb.CPULimit != "", "limit cpu"}} {
			if l.set && !container && !works[l.name] {
				need = append(need, l.name)
			}
		}
		if len(need) > 0 {
			issues = append(issues, fmt.Sprintf("%s needs %s, which does not work here; the server will not start "+
				"(see the sandbox table, and docs/SANDBOX.md)", u.where, strings.Join(need, ", ")))
		}
	}
	return issues, mechs
}

// mechanismRows renders health-check's sandbox table.
func mechanismRows(ms []upstream.Mechanism) [][]string {
	rows := make([][]string, 0, len(ms))
	for _, m := range ms {
		works := "no"
		if m.OK {
			works = "yes"
		}
		rows = append(rows, []string{m.Name, works, m.Detail})
	}
	return rows
}

package main

import (
	"errors"

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

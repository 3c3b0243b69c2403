package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// Environment variables that make the process write pprof profiles, for the
// benchmark harness (go run ./cmd/bench -profile DIR). They are removed from
// the environment at startup so that upstream servers do not inherit them.
const (
	EnvCPUProfile = "SECURE_MCP_GATEWAY_CPUPROFILE"
	EnvMemProfile = "SECURE_MCP_GATEWAY_MEMPROFILE"
)

// startProfiling starts a CPU profile if EnvCPUProfile names a file; the
// returned function stops it and writes an allocation profile to
// EnvMemProfile if set. With neither set it does nothing.
func startProfiling() func() {
	cpu, mem := os.Getenv(EnvCPUProfile), os.Getenv(EnvMemProfile)
	os.Unsetenv(EnvCPUProfile)
	os.Unsetenv(EnvMemProfile)
	var stops []func()
	if cpu != "" {
		f, err := os.Create(cpu)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
		} else {
			fmt.Fprintf(os.Stderr, "secure-mcp-gateway: cpu profile: %v\n", err)
		}
	}
	if mem != "" {
		stops = append(stops, func() {
			f, err := os.Create(mem)
			if err != nil {
				return
			}
			defer f.Close()
			runtime.GC()
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
		})
	}
	return func() {
		for _, stop := range stops {
			stop()
		}
	}
}

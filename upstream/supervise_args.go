package upstream

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// supervisorArgs are the options that precede "--" in the supervisor's argv.
// They carry a server's resource limits from the pool to the supervisor,
// which applies them to the upstream and everything it starts.
type supervisorArgs struct {
	Limits
	// exec marks the supervisor's second stage: join the cgroups in join,
	// set the rlimits and exec the upstream in place.
	exec bool
	// join lists cgroup.procs files this process writes itself into.
	join []string
	// engine and container name a container to remove once the upstream
	// is gone (the engine's client may die without stopping it).
	engine, container string
}

// limited reports whether any limit is set.
func (o *supervisorArgs) limited() bool { return o.Limits != Limits{} }

// args renders the options as the argv prefix that parseSupervisorArgs reads,
// ending with "--"; nil when there is nothing to pass.
func (o *supervisorArgs) args() []string {
	var a []string
	if o.exec {
		a = append(a, "--exec")
	}
	for _, j := range o.join {
		a = append(a, "--join="+j)
	}
	if o.container != "" {
		a = append(a, "--engine="+o.engine, "--container="+o.container)
	}
	if o.MemoryBytes > 0 {
		a = append(a, "--memory="+strconv.FormatInt(o.MemoryBytes, 10))
	}
	if o.CPUs > 0 {
		a = append(a, "--cpus="+strconv.FormatFloat(o.CPUs, 'f', -1, 64))
	}
	if o.Pids > 0 {
		a = append(a, "--pids="+strconv.Itoa(o.Pids))
	}
	if o.NoFile > 0 {
		a = append(a, "--nofile="+strconv.FormatUint(o.NoFile, 10))
	}
	if len(a) == 0 {
		return nil
	}
	return append(a, "--")
}

// parseSupervisorArgs splits argv into the options before "--" and the
// command after it. An argv that does not start with "--" is all command.
func parseSupervisorArgs(argv []string) (*supervisorArgs, []string, error) {
	o := &supervisorArgs{}
	if len(argv) == 0 || !strings.HasPrefix(argv[0], "--") {
		if len(argv) == 0 {
			return nil, nil, errors.New("no command")
		}
		return o, argv, nil
	}
	for i, a := range argv {
		if a == "--" {
			if i+1 >= len(argv) {
				return nil, nil, errors.New("no command after --")
			}
			return o, argv[i+1:], nil
		}
		key, val, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		var err error
		switch key {
		case "exec":
			o.exec = true
		case "join":
			o.join = append(o.join, val)
		case "engine":
			o.engine = val
		case "container":
			o.container = val
		case "memory":
			o.MemoryBytes, err = strconv.ParseInt(val, 10, 64)
		case "cpus":
			o.CPUs, err = strconv.ParseFloat(val, 64)
		case "pids":
			o.Pids, err = strconv.Atoi(val)
		case "nofile":
			o.NoFile, err = strconv.ParseUint(val, 10, 64)
		default:
			return nil, nil, fmt.Errorf("unknown option %q", a)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("option %q: %w", a, err)
		}
	}
	return nil, nil, errors.New("no -- before the command")
}

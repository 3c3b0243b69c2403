//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package promtext

// cpuSeconds is not measured on this system; the series is left out.
func cpuSeconds() (float64, bool) { return 0, false }

// maxFDs is not known on this system; the series is left out.
func maxFDs() (float64, bool) { return 0, false }

package promtext

import (
	"runtime"
	"runtime/metrics"
	"time"
)

// initTime stands in for the process start time where the system does not
// tell it; package initialisation runs within milliseconds of the start.
var initTime = time.Now()

// RegisterRuntime registers the Go runtime and process series that the
// Prometheus client's Go and process collectors provided and that operators
// chart: go_goroutines, go_info, go_sched_gomaxprocs_threads, go_threads,
// go_memstats_{heap_alloc,alloc,sys,next_gc}_bytes,
// go_memstats_alloc_bytes_total, go_memstats_heap_objects,
// go_gc_gogc_percent, go_gc_gomemlimit_bytes, process_start_time_seconds, and where the system tells them
// process_cpu_seconds_total (unix), process_max_fds (unix),
// process_resident_memory_bytes, process_virtual_memory_bytes and
// process_open_fds (Linux). A series the system cannot give is left out
// rather than reported as 0. The client's GC pause summary
// (go_gc_duration_seconds), its rarer go_memstats_* series and the process
// network counters are not provided.
func (r *Registry) RegisterRuntime() {
	r.NewGaugeFunc("go_goroutines", "Number of goroutines that currently exist.",
		func() (float64, bool) { return float64(runtime.NumGoroutine()), true })
	r.NewGaugeVec("go_info", "Information about the Go environment.", "version").
		WithLabelValues(runtime.Version()).Set(1)
	r.NewGaugeFunc("go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously.",
		func() (float64, bool) { return float64(runtime.GOMAXPROCS(0)), true })
	r.NewGaugeFunc("go_threads", "Number of OS threads the Go runtime currently has. Equals to /sched/threads/total:threads.",
		runtimeMetric("/sched/threads/total:threads"))
	r.NewGaugeFunc("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.",
		runtimeMetric("/memory/classes/heap/objects:bytes"))
	r.NewGaugeFunc("go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.",
		runtimeMetric("/memory/classes/heap/objects:bytes"))
	r.NewCounterFunc("go_memstats_alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.",
		runtimeMetric("/gc/heap/allocs:bytes"))
	r.NewGaugeFunc("go_memstats_heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.",
		runtimeMetric("/gc/heap/objects:objects"))
	r.NewGaugeFunc("go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.",
		runtimeMetric("/gc/heap/goal:bytes"))
	r.NewGaugeFunc("go_memstats_sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.",
		runtimeMetric("/memory/classes/total:bytes"))
	r.NewGaugeFunc("go_gc_gogc_percent", "Heap size target percentage configured by the user, otherwise 100. Sourced from /gc/gogc:percent.",
		runtimeMetric("/gc/gogc:percent"))
	r.NewGaugeFunc("go_gc_gomemlimit_bytes", "Go runtime memory limit configured by the user, otherwise math.MaxInt64. Sourced from /gc/gomemlimit:bytes.",
		runtimeMetric("/gc/gomemlimit:bytes"))

	r.NewGaugeFunc("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
		func() (float64, bool) {
			if t, ok := processStart(); ok {
				return t, true
			}
			return float64(initTime.UnixNano()) / 1e9, true
		})
	r.NewCounterFunc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", cpuSeconds)
	r.NewGaugeFunc("process_max_fds", "Maximum number of open file descriptors.", maxFDs)
	r.NewGaugeFunc("process_open_fds", "Number of open file descriptors.", openFDs)
	r.NewGaugeFunc("process_resident_memory_bytes", "Resident memory size in bytes.",
		func() (float64, bool) { _, rss, ok := memory(); return rss, ok })
	r.NewGaugeFunc("process_virtual_memory_bytes", "Virtual memory size in bytes.",
		func() (float64, bool) { vsz, _, ok := memory(); return vsz, ok })
}

// runtimeMetric reads one uint64 runtime/metrics value; runtime/metrics
// does not stop the world as runtime.ReadMemStats does.
func runtimeMetric(name string) func() (float64, bool) {
	return func() (float64, bool) {
		s := []metrics.Sample{{Name: name}}
		metrics.Read(s)
		if s[0].Value.Kind() != metrics.KindUint64 {
			return 0, false
		}
		return float64(s[0].Value.Uint64()), true
	}
}

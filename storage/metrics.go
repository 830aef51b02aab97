package storage

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Fault states of nimbus_storage_fault.
const (
	faultNone    = 0 // writes accepted
	faultNoSpace = 1 // free space below the reserve: new data refused
	faultWrites  = 2 // writes fail, or free space below the floor: every write refused
)

var (
	descFault = prometheus.NewDesc("nimbus_storage_fault",
		"0: writes accepted; 1: free space below the reserve, new data refused; 2: writes failing or free space below the floor, every write refused.", nil, nil)
	descFree = prometheus.NewDesc("nimbus_storage_free_bytes",
		"Free space on the filesystem of the node's Badger directory.", nil, nil)
	descReserve = prometheus.NewDesc("nimbus_storage_reserve_bytes",
		"Free space below which new data is refused (a quarter of it: every write).", nil, nil)
	descWriteErrors = prometheus.NewDesc("nimbus_storage_write_errors_total",
		"Commits and syncs that failed or were refused for lack of space.", nil, nil)
)

// Collector returns a collector of the DB's storage-fault metrics; it
// reads the DB's state at each scrape (which may run a probe write, see
// WriteErr).
func (db *DB) Collector() prometheus.Collector { return collector{db} }

type collector struct{ db *DB }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descFault
	ch <- descFree
	ch <- descReserve
	ch <- descWriteErrors
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	state := faultNone
	if err := c.db.WriteErr(); errors.Is(err, ErrWriteFault) {
		state = faultWrites
	} else if err != nil {
		state = faultNoSpace
	}
	ch <- prometheus.MustNewConstMetric(descFault, prometheus.GaugeValue, float64(state))
	if free, ok := c.db.FreeBytes(); ok {
		ch <- prometheus.MustNewConstMetric(descFree, prometheus.GaugeValue, float64(free))
	}
	ch <- prometheus.MustNewConstMetric(descReserve, prometheus.GaugeValue, float64(c.db.health.reserve))
	ch <- prometheus.MustNewConstMetric(descWriteErrors, prometheus.CounterValue, float64(c.db.health.writeErrors.Load()))
}

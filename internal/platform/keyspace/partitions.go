package keyspace

// The bounds of P, the number of partitions of the key layout (see
// activities.Layout). They live here, below the participants, so the
// configuration can check a configured P without importing them.

// DefaultPartitions is P on a Redis Cluster when none is configured or
// recorded: on a cluster of 1, 2, 3, 4, 6 or 12 masters with equal slot
// ranges the partitions spread evenly. One Redis gains nothing from
// partitions and pays for them (each read names every partition's
// streams), so there P is 1 unless configured.
const DefaultPartitions = 12

// MaxPartitions bounds P.
const MaxPartitions = 1024

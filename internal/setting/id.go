package setting

// ID is a setting of the daemon, by a stable identity that does not depend on how the operator sets it. main.go's
// settings table has exactly one row per ID (its flag, variables, default, parsing, destination, start-line key and
// doctor's summary), and is the only place that turns an ID into a variable name. The packages will name a setting
// in their errors by its ID; until then they use Names, which main.go fills from the table (Names.Set).
type ID uint8

// The settings. The zero ID is none.
const (
	URL ID = iota + 1 // CATTLE_URL
	AccessKey
	SecretKey
	AWSAccessKeyID // the AWS SDK reads the AWS keys itself; main.go reads them too (files, checks, scrubber)
	AWSSecretKey
	AWSSessionToken
	Region
	RoleARN
	RegistryIDs
	Regions
	AutoCreate
	Interval
	DryRun
	Discover
	Events
	LogLevel
	LogFormat
	ListenPort
	RancherTimeout
	ECRTimeout
	CACert
	InsecureSkipVerify
	Environments
	Concurrency
	HTTPSProxy // net/http reads the proxies itself; main.go reads them for files and the scrubber
	HTTPProxy

	// NumIDs is one past the last ID.
	NumIDs
)

// Set sets the name of the setting id, when Names has a field for it (the settings the packages name); it reports
// whether it had one.
func (n *Names) Set(id ID, name string) bool {
	field := map[ID]*string{
		URL: &n.URL, AccessKey: &n.AccessKey, SecretKey: &n.SecretKey, Environments: &n.Environments, CACert: &n.CACert,
		RancherTimeout: &n.RancherTimeout, Region: &n.Region, RoleARN: &n.RoleARN, RegistryIDs: &n.RegistryIDs,
		Regions: &n.Regions, ECRTimeout: &n.ECRTimeout, AutoCreate: &n.AutoCreate, Discover: &n.Discover, Interval: &n.Interval,
	}[id]
	if field == nil {
		return false
	}
	*field = name
	return true
}

// A YARN mini cluster (one ResourceManager, one NodeManager) with every address on one host.
//
// Hadoop's CLI minicluster (MiniHadoopClusterManager) starts YARN only together with MapReduce,
// whose classes (LocalContainerLauncher, ...) hadoop-client-minicluster does not ship; this starts
// MiniYARNCluster alone. It writes the cluster's configuration (with the ports it chose) to
// CONFIG_XML once every NodeManager is up, then serves until it is killed.
//
//   java -cp "<this class's folder>:.jars/hadoop-minicluster/*" MiniYarn 127.0.0.1 CONFIG_XML

import java.io.File;
import java.io.FileOutputStream;
import java.io.OutputStream;

import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;

public final class MiniYarn {
  private MiniYarn() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: MiniYarn HOST CONFIG_XML");
      System.exit(2);
    }
    String host = args[0];
    File out = new File(args[1]);
    YarnConfiguration conf = new YarnConfiguration();
    String any = host + ":0";
    for (String key :
        new String[] {
          YarnConfiguration.RM_ADDRESS,
          YarnConfiguration.RM_SCHEDULER_ADDRESS,
          YarnConfiguration.RM_RESOURCE_TRACKER_ADDRESS,
          YarnConfiguration.RM_ADMIN_ADDRESS,
          YarnConfiguration.RM_WEBAPP_ADDRESS,
          YarnConfiguration.RM_WEBAPP_HTTPS_ADDRESS,
          YarnConfiguration.NM_ADDRESS,
          YarnConfiguration.NM_LOCALIZER_ADDRESS,
          YarnConfiguration.NM_WEBAPP_ADDRESS,
          YarnConfiguration.NM_WEBAPP_HTTPS_ADDRESS,
          YarnConfiguration.NM_COLLECTOR_SERVICE_ADDRESS,
          YarnConfiguration.TIMELINE_SERVICE_ADDRESS,
          YarnConfiguration.TIMELINE_SERVICE_WEBAPP_ADDRESS,
          YarnConfiguration.TIMELINE_SERVICE_WEBAPP_HTTPS_ADDRESS,
        }) {
      conf.set(key, any);
    }
    conf.set(YarnConfiguration.RM_HOSTNAME, host);
    conf.set(YarnConfiguration.NM_BIND_HOST, host);
    conf.set(YarnConfiguration.RM_BIND_HOST, host);
    conf.setBoolean(YarnConfiguration.TIMELINE_SERVICE_ENABLED, false);
    // the capacity scheduler needs a capacity-scheduler.xml the jars do not carry
    conf.set(
        YarnConfiguration.RM_SCHEDULER,
        "org.apache.hadoop.yarn.server.resourcemanager.scheduler.fifo.FifoScheduler");
    conf.setBoolean(YarnConfiguration.YARN_MINICLUSTER_FIXED_PORTS, false);
    conf.setInt(YarnConfiguration.NM_PMEM_MB, 2048);
    conf.setInt(YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_MB, 128);
    conf.setBoolean(YarnConfiguration.NM_PMEM_CHECK_ENABLED, false);
    conf.setBoolean(YarnConfiguration.NM_VMEM_CHECK_ENABLED, false);
    conf.set("yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage", "99.9");

    MiniYARNCluster cluster = new MiniYARNCluster("tagfactory-tests", 1, 1, 1);
    Runtime.getRuntime().addShutdownHook(new Thread(cluster::stop));
    try {
      cluster.init(conf);
      cluster.start();
    } catch (RuntimeException e) {
      e.printStackTrace();
      System.exit(1); // the services' threads would keep a failed cluster's JVM alive
    }
    File partial = new File(out.getPath() + ".tmp");
    try (OutputStream stream = new FileOutputStream(partial)) {
      cluster.getConfig().writeXml(stream);
    }
    if (!partial.renameTo(out)) {
      throw new IllegalStateException("cannot write " + out);
    }
    System.out.println("MiniYarn: ready, configuration in " + out);
    Thread.currentThread().join();
  }
}

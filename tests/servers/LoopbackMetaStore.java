// A standalone Hive metastore (Hive 2.3.10, from the pyspark wheel's jars) bound to one address.
//
// Hive 2.3's HiveMetaStore.main always listens on every interface: its startMetaStore passes a
// null host to HiveAuthUtils.getServerSocket, and 2.3 has no bind-host setting (Hive 3 added
// metastore.thrift.bind.host). This launcher builds the same unsecured Thrift server as
// HiveMetaStore.startMetaStore (same handler, processor, transport and protocol) on host:port.
// Configuration comes from HiveConf as usual: hive-site.xml on the classpath and -D system
// properties named like Hive settings (javax.jdo.option.ConnectionURL, ...).
//
//   java -cp "<this class's folder>:$PYSPARK/jars/*" LoopbackMetaStore 127.0.0.1 9083

import java.net.InetSocketAddress;

import org.apache.hadoop.hive.conf.HiveConf;
import org.apache.hadoop.hive.metastore.HiveMetaStore;
import org.apache.hadoop.hive.metastore.IHMSHandler;
import org.apache.hadoop.hive.metastore.TServerSocketKeepAlive;
import org.apache.hadoop.hive.metastore.TUGIBasedProcessor;
import org.apache.hadoop.hive.thrift.TUGIContainingTransport;
import org.apache.thrift.protocol.TBinaryProtocol;
import org.apache.thrift.server.TServer;
import org.apache.thrift.server.TThreadPoolServer;
import org.apache.thrift.transport.TServerSocket;

public final class LoopbackMetaStore {
  private LoopbackMetaStore() {}

  public static void main(String[] args) throws Throwable {
    if (args.length != 2) {
      System.err.println("usage: LoopbackMetaStore HOST PORT");
      System.exit(2);
    }
    String host = args[0];
    int port = Integer.parseInt(args[1]);
    HiveConf conf = new HiveConf(HiveMetaStore.HMSHandler.class);
    // what startMetaStore does without Kerberos (hive.metastore.sasl.enabled=false)
    IHMSHandler base = new HiveMetaStore.HMSHandler("new db based metaserver", conf, false);
    IHMSHandler handler = HiveMetaStore.newRetryingHMSHandler(base, conf);
    TBinaryProtocol.Factory protocol = new TBinaryProtocol.Factory();
    TServerSocket socket =
        new TServerSocketKeepAlive(new TServerSocket(new InetSocketAddress(host, port)));
    TThreadPoolServer.Args server =
        new TThreadPoolServer.Args(socket)
            .processor(new TUGIBasedProcessor<IHMSHandler>(handler))
            .transportFactory(new TUGIContainingTransport.Factory())
            .protocolFactory(protocol)
            .inputProtocolFactory(protocol)
            .minWorkerThreads(conf.getIntVar(HiveConf.ConfVars.METASTORESERVERMINTHREADS))
            .maxWorkerThreads(conf.getIntVar(HiveConf.ConfVars.METASTORESERVERMAXTHREADS));
    TServer thrift = new TThreadPoolServer(server);
    System.out.println("LoopbackMetaStore: serving thrift://" + host + ":" + port);
    thrift.serve();
  }
}

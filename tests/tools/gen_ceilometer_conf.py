#!/usr/bin/env python3
"""gen_ceilometer_conf.py DIR N SEED — writes N random ceilometer.conf-like
files (DIR/NNN.conf) for tests/integration/import_ceilometer.sh: the options
tallyctl import-ceilometer reads, in their sections or not, with values of
every kind (URLs of other drivers, bad ports, host names, numbers out of
range, quotes, comments, broken lines), so that each result can be checked
with tallyd --check-config."""
import os
import random
import sys

SECTIONS = {
    'DEFAULT': ['transport_url', 'dispatcher', 'meter_dispatchers', 'event_dispatchers',
                'rabbit_host', 'rabbit_hosts', 'rabbit_port', 'rabbit_userid', 'rabbit_password',
                'rabbit_virtual_host', 'control_exchange', 'debug', 'verbose', 'use_syslog',
                'auth_strategy', 'nova_control_exchange', 'collector_workers'],
    'collector': ['workers', 'udp_address', 'udp_port', 'batch_size', 'batch_timeout',
                  'enable_rpc', 'store_events', 'dispatcher'],
    'database': ['connection', 'metering_connection', 'event_connection',
                 'metering_time_to_live', 'event_time_to_live'],
    'api': ['host', 'port', 'default_api_return_limit', 'workers'],
    'keystone_authtoken': ['auth_url', 'identity_uri', 'username', 'password', 'project_name',
                           'admin_user', 'admin_password', 'admin_tenant_name', 'auth_uri',
                           'token_cache_time'],
    'dispatcher_http': ['target', 'event_target', 'timeout', 'verify_ssl', 'batch_mode',
                        'cadf_only'],
    'dispatcher_file': ['file_path', 'max_bytes', 'backup_count'],
    'dispatcher_gnocchi': ['url', 'archive_policy', 'filter_project', 'filter_service_activity',
                           'resources_definition_file'],
    'oslo_messaging_rabbit': ['ssl', 'rabbit_use_ssl', 'heartbeat_timeout_threshold',
                              'rabbit_qos_prefetch_count', 'amqp_durable_queues',
                              'rabbit_ha_queues'],
    'notification': ['workers', 'store_events', 'notification_control_exchanges'],
    'publisher': ['telemetry_secret', 'metering_secret'],
    'service_credentials': ['auth_url', 'username', 'password', 'project_name', 'os_auth_url',
                            'region_name'],
    'event': ['definitions_cfg_file', 'drop_unmatched_notifications', 'store_raw'],
    'meter': ['meter_definitions_dirs', 'meter_definitions_cfg_file'],
    'publisher_notifier': ['metering_topic', 'event_topic'],
    'oslo_messaging_notifications': ['topics'],
    'Database': ['connection'],
}
VALUES = ['', '0', '1', '-1', '99999999999999999999', 'true', 'False', 'yes', 'x', 'database',
          'file', 'http', 'gnocchi', 'kafka', 'rabbit://', 'rabbit://u:p@h:5672/',
          'rabbit://u:p@[::1]:5672,u@h2/v?ssl=1&x=y', 'rabbit://h:99999/', 'amqp://h',
          'kafka://h', 'mysql://u:p@h/d', 'postgresql://u@h/d', 'sqlite:////tmp/x.db',
          'sqlite://', 'mongodb://h', 'http://ks:5000', 'http://ks:5000/v2.0/', '::1', '0.0.0.0',
          'host name', '"quoted"', "'q'", 'a,b,,c', '0.5', '1e309', 'nan', '\\"', '\t', '%',
          '$var', '#x', ';y', '\u00e9', 'a' * 300, 'h1:1,h2:2, ,h3', '[::1]:5', '::1', 'info']
BROKEN = ['', '# c', '; c', '   cont', '[x', '[]', 'k', '=v', 'x : y']


def main():
    out, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rnd = random.Random(seed)
    names = sorted(SECTIONS)
    for i in range(n):
        lines, sec = [], None
        for _ in range(rnd.randint(1, 40)):
            r = rnd.random()
            if r < 0.15 or sec is None:
                sec = rnd.choice(names)
                lines.append('[%s]' % sec)
            elif r < 0.2:
                lines.append(rnd.choice(BROKEN))
            else:
                lines.append('%s%s%s' % (rnd.choice(SECTIONS[sec]),
                                         rnd.choice([' = ', '=', ': ', ' =']),
                                         rnd.choice(VALUES)))
        with open(os.path.join(out, '%03d.conf' % i), 'w') as f:
            f.write('\n'.join(lines) + '\n')


main()

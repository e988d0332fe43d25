import winston from 'winston';

export type Logger = winston.Logger;

/** JSON lines on stdout: a fixed message plus fields. Level from DEPLOYER_LOG_LEVEL (default info). */
export function createLogger(opts: { level?: string; silent?: boolean; component?: string } = {}): Logger {
  return winston.createLogger({
    level: opts.level ?? process.env.DEPLOYER_LOG_LEVEL ?? 'info',
    silent: opts.silent ?? false,
    defaultMeta: { component: opts.component ?? 'deployer' },
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json()),
    transports: [new winston.transports.Console()],
  });
}

export declare const root: string;
export declare function bundle(): Promise<{ run: string; server: string; configWorker: string; watchWorker: string }>;

"""limo_rl.evaluate"""
